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
import threading
from pathlib import Path

from pydicom.dataset import Dataset

from operators.contrast_identification import Contrast, Identification
from operators.dicom_volume import series_volume
from operators.errors import VolumeError

logger = logging.getLogger(__name__)

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[1] / "models" / "contrast-classifier"
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


def _probabilities(ident: Identification, datasets: list[Dataset], folder: Path) -> dict[str, float] | None:
    try:
        volume = series_volume(datasets)
    except VolumeError as error:
        ident.evidence.append(f"image check impossible: {error}")
        return None
    return load_classifier(folder).probabilities(volume.array, volume.affine_ras)


def _ranked(probabilities: dict[str, float]) -> str:
    return ", ".join(f"{c} {v:.2f}" for c, v in sorted(probabilities.items(), key=lambda kv: -kv[1]))


def _order_key(ident: Identification) -> tuple:
    s = ident.series
    return (s.acquisition_key or ("", float("inf")), s.series_number if s.series_number is not None else 1 << 30)


def identify_from_images(
    idents: list[Identification],
    datasets: dict[str, list[Dataset]],
    classifier_folder: Path = DEFAULT_CLASSIFIER,
    min_probability: float = MIN_PROBABILITY,
) -> list[Identification]:
    """The classifier's answers for series the tags left undecided (`needs_image_check`), others unchanged.

    A class is taken at `min_probability`. Pixels tell a T1-weighted image well but pre- from post-contrast
    poorly, so when T1 + T1ce together reach `min_probability` but neither alone does, the T1-weighted series
    are told apart by acquisition order (the earliest is the T1, later ones T1ce), as the tag rules do; a lone
    such series goes by the larger of the two. Returns a new list in the same order.
    """
    result = list(idents)
    t1_family: list[tuple[int, dict[str, float]]] = []
    for index, ident in enumerate(idents):
        if not needs_image_check(ident):
            continue
        uid = ident.series.series_instance_uid
        probabilities = _probabilities(ident, datasets[uid], classifier_folder)
        if probabilities is None:
            continue
        best = max(probabilities, key=probabilities.get)
        if probabilities[best] >= min_probability:
            result[index] = _identified(
                ident, best, probabilities[best], [f"no tag evidence; image classifier: {_ranked(probabilities)}"]
            )
        elif probabilities["t1"] + probabilities["t1ce"] >= min_probability:
            t1_family.append((index, probabilities))
        else:
            ident.evidence.append(f"image classifier unsure ({_ranked(probabilities)}; needs {min_probability:g})")
    ordered = sorted(t1_family, key=lambda item: _order_key(idents[item[0]]))
    for rank, (index, probabilities) in enumerate(ordered):
        p = probabilities["t1"] + probabilities["t1ce"]
        if len(ordered) > 1:
            contrast = "t1" if rank == 0 else "t1ce"
            how = f"T1-weighted by its pixels; {'first' if rank == 0 else 'later'} of {len(ordered)} such series"
        else:
            contrast = "t1" if probabilities["t1"] >= probabilities["t1ce"] else "t1ce"
            how = "T1-weighted by its pixels; pre or post contrast unclear, the likelier taken"
            p = max(probabilities["t1"], probabilities["t1ce"])
        evidence = [f"no tag evidence; image classifier: {_ranked(probabilities)}; {how}"]
        result[index] = _identified(idents[index], contrast, p, evidence)
    return result


def _identified(ident: Identification, contrast: str, p: float, evidence: list[str]) -> Identification:
    logger.info("series %s identified from its pixels as %s (p %.2f)", ident.series.series_instance_uid, contrast, p)
    return Identification(
        ident.series, Contrast(contrast), round(p * IMAGE_CONFIDENCE_SCALE, 3), evidence, ident.scores
    )
