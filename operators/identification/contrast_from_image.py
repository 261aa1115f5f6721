"""The image decides a series' contrast when its tags carry no evidence (anonymized or stripped headers).

Only series that tag rules left at confidence 0 are looked at; their volume
goes through the contrast classifier (`models.contrast_classifier`, shipped in
models/contrast-classifier/ with its held-out accuracy). A class is taken
when its probability reaches `min_probability`; the confidence reported is
that probability scaled by IMAGE_CONFIDENCE_SCALE, so that a series named by
its tags wins over one recognised by its pixels when both claim a contrast.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from pydicom.dataset import Dataset

from operators.errors import VolumeError
from operators.identification.contrast_identification import Contrast, Identification
from operators.volume.dicom_volume import SeriesVolume, series_volume

logger = logging.getLogger(__name__)

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[2] / "models" / "contrast-classifier"
MIN_PROBABILITY = 0.7
IMAGE_CONFIDENCE_SCALE = 0.6

_loaded: dict[str, object] = {}
_lock = threading.Lock()


def load_classifier(folder: Path = DEFAULT_CLASSIFIER):
    """The classifier of `folder`, loaded once per process."""
    from models.contrast_classifier import ContrastClassifierModel

    key = str(Path(folder).resolve())
    with _lock:
        if key not in _loaded:
            _loaded[key] = ContrastClassifierModel.load(Path(folder))
            logger.info("loaded the image contrast classifier from %s", folder)
        return _loaded[key]


def needs_image_check(ident: Identification) -> bool:
    """True when the tags gave nothing to go on."""
    return ident.contrast is Contrast.OTHER and ident.confidence == 0.0


def _probabilities(
    ident: Identification, datasets: list[Dataset], folder: Path, built: dict[str, SeriesVolume]
) -> dict[str, float] | None:
    try:
        volume = series_volume(datasets)
    except VolumeError as error:
        ident.evidence.append(f"image check impossible: {error}")
        return None
    built[volume.series_uid] = volume
    return load_classifier(folder).probabilities(volume.array, volume.affine_ras)


def _ranked(probabilities: dict[str, float]) -> str:
    return ", ".join(f"{c} {v:.2f}" for c, v in sorted(probabilities.items(), key=lambda kv: -kv[1]))


def identify_from_images(
    idents: list[Identification],
    datasets: dict[str, list[Dataset]],
    classifier_folder: Path = DEFAULT_CLASSIFIER,
    min_probability: float = MIN_PROBABILITY,
    built: dict[str, SeriesVolume] | None = None,
) -> list[Identification]:
    """The classifier's answers for series the tags left undecided (`needs_image_check`), others unchanged.

    A class is taken at `min_probability`. Pixels tell a T1-weighted image well but pre- from post-contrast poorly
    in absolute terms, while between two T1-weighted series of one study the classifier ranks the post-contrast
    one as the more enhanced (23 of 24 held-out simulated studies, every vendor, whole head and skull-stripped:
    models/contrast-classifier/README.md). So every series whose T1 + T1ce probability reaches `min_probability`
    is T1-weighted; when a study has several, the one with the largest log-odds of T1ce over T1 is the T1ce and
    the others T1; a lone one goes by the larger of the two. Returns a new list in the same order.

    Each volume built for the classifier is put in `built` (by SeriesInstanceUID) when given, so that volume
    assembly does not decode the series a second time.
    """
    built = {} if built is None else built
    result = list(idents)
    t1_family: list[tuple[int, dict[str, float]]] = []
    for index, ident in enumerate(idents):
        if not needs_image_check(ident):
            continue
        uid = ident.series.series_instance_uid
        probabilities = _probabilities(ident, datasets[uid], classifier_folder, built)
        if probabilities is None:
            continue
        best = max(probabilities, key=probabilities.get)
        if probabilities["t1"] + probabilities["t1ce"] >= min_probability:
            t1_family.append((index, probabilities))
        elif probabilities[best] >= min_probability:
            result[index] = _identified(
                ident, best, probabilities[best], [f"no tag evidence; image classifier: {_ranked(probabilities)}"]
            )
        else:
            ident.evidence.append(f"image classifier unsure ({_ranked(probabilities)}; needs {min_probability:g})")
    enhanced = max(t1_family, key=lambda item: _enhancement(item[1]))[0] if len(t1_family) > 1 else None
    for index, probabilities in t1_family:
        p = probabilities["t1"] + probabilities["t1ce"]
        if enhanced is not None:
            contrast = "t1ce" if index == enhanced else "t1"
            how = (
                f"T1-weighted by its pixels; the {'most' if index == enhanced else 'less'} enhanced of "
                f"{len(t1_family)} such series (log-odds T1ce:T1 {_enhancement(probabilities):+.2f})"
            )
        else:
            contrast = "t1" if probabilities["t1"] >= probabilities["t1ce"] else "t1ce"
            how = "T1-weighted by its pixels; the only such series, pre or post contrast by the likelier"
            p = max(probabilities["t1"], probabilities["t1ce"])
        evidence = [f"no tag evidence; image classifier: {_ranked(probabilities)}; {how}"]
        result[index] = _identified(idents[index], contrast, p, evidence)
    return result


def _enhancement(probabilities: dict[str, float]) -> float:
    """How much more post- than pre-contrast the classifier finds a T1-weighted series: log p(T1ce) - log p(T1)."""
    return math.log(max(probabilities["t1ce"], 1e-9)) - math.log(max(probabilities["t1"], 1e-9))


def _identified(ident: Identification, contrast: str, p: float, evidence: list[str]) -> Identification:
    logger.info("series %s identified from its pixels as %s (p %.2f)", ident.series.series_instance_uid, contrast, p)
    return Identification(
        ident.series, Contrast(contrast), round(p * IMAGE_CONFIDENCE_SCALE, 3), evidence, ident.scores
    )
