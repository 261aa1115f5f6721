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

from models.contrast_classifier import MIN_PROBABILITY, ContrastClassifierModel, study_calls
from operators.errors import VolumeError
from operators.identification.contrast_identification import Contrast, Identification
from operators.volume.dicom_volume import SeriesVolume, series_volume

logger = logging.getLogger(__name__)

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[2] / "models" / "contrast-classifier"
IMAGE_CONFIDENCE_SCALE = 0.6

_loaded: dict[str, object] = {}
_lock = threading.Lock()


def load_classifier(folder: Path = DEFAULT_CLASSIFIER):
    """The classifier of `folder`, loaded once per process."""
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

    The study's series are called together (`models.contrast_classifier.study_calls`): between two T1-weighted
    series the more enhanced is the T1ce (T1 and T1ce 0.975 on held-out simulated studies: models/contrast-classifier/),
    and the last unsure series may take, by exclusion, the one contrast that neither tags nor pixels found.
    Returns a new list in the same order. Each volume built for the classifier is put in `built` (by
    SeriesInstanceUID) when given, so that volume assembly does not decode the series a second time.
    """
    built = {} if built is None else built
    result = list(idents)
    looked_at: list[tuple[int, dict[str, float]]] = []
    for index, ident in enumerate(idents):
        if needs_image_check(ident):
            uid = ident.series.series_instance_uid
            probabilities = _probabilities(ident, datasets[uid], classifier_folder, built)
            if probabilities is not None:
                looked_at.append((index, probabilities))
    taken = {i.contrast.value for i in idents if i.contrast is not Contrast.OTHER and not needs_image_check(i)}
    calls = study_calls([p for _, p in looked_at], min_probability, taken)
    for (index, probabilities), call in zip(looked_at, calls):
        ranked = _ranked(probabilities)
        if call.contrast is None:
            idents[index].evidence.append(f"image classifier unsure ({ranked}; {call.how})")
            continue
        evidence = f"no tag evidence; image classifier: {ranked}" + (f"; {call.how}" if call.how else "")
        result[index] = _identified(idents[index], call.contrast, call.probability, [evidence])
    return result


def _identified(ident: Identification, contrast: str, p: float, evidence: list[str]) -> Identification:
    logger.info("series %s identified from its pixels as %s (p %.2f)", ident.series.series_instance_uid, contrast, p)
    return Identification(
        ident.series, Contrast(contrast), round(p * IMAGE_CONFIDENCE_SCALE, 3), evidence, ident.scores
    )
