"""Write one synthetic contrast as a DICOM series that joins its source study, slice for slice on a reference series.

Each slice becomes a Secondary Capture Image (PS3.3 A.8.1, built by highdicom's
`SCImage.from_ref_dataset`) or, for tools that only take MR, a derived MR Image
(PS3.3 A.4), with what the constructor lacks added after it:

- the reference slice's geometry (Image Plane attributes, PS3.3 C.7.6.2, and
  Frame of Reference UID), so viewers stack and link the synthetic slices with
  the acquired ones; a Standard Extended SOP Class for SC (PS3.4 B.1.3);
- labels that say "synthetic" wherever a reader looks: Image Type
  DERIVED\\SECONDARY\\OTHER (C.7.6.1.1.2), Series Description, Derivation
  Description, Image Comments, a burned-in label (Burned In Annotation YES);
- traceability (C.12.1, C.12.2, C.7.6.1): Source Image Sequence to the
  reference slice (purpose DCM 121322), the source series listed in the Common
  Instance Reference Module, and the synthesizing model in Contributing
  Equipment (C.12.1.1.3) with purpose (109100, DCM, "Synthesizing Equipment")
  from PS3.16 CID 7005, the code PS3.3 names for synthesized content, and a
  Device UID that changes with the model (IHE AIR).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.metadata
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, RLELossless

from operators.errors import VolumeError
from operators.writing.burned_label import CORNERS, burn_label
from operators.writing.sc_files import write_series_folder
from operators.writing.sc_reference import (
    ReferenceGrid,
    copy_patient_and_study,
    instance_reference,
    reference_grid,
    referenced_series,
)
from product.choices import OUTPUT_GRIDS, SOP_CLASSES
from product.names import MANUFACTURER, MODEL_NAME, PRODUCT_NAME, SERIES_DESCRIPTION_PREFIX

logger = logging.getLogger(__name__)

TRANSFER_SYNTAXES = (ExplicitVRLittleEndian, RLELossless)
CONTRAST_LABELS = {"t1": "T1", "t1ce": "T1ce", "t2": "T2", "flair": "FLAIR"}
IMAGE_TYPE = ("DERIVED", "SECONDARY", "OTHER")
IMAGE_COMMENTS = "SYNTHETIC IMAGE - NOT ACQUIRED - NOT FOR DIAGNOSIS"
BODY_PART_EXAMINED = "BRAIN"
BITS_STORED = 12
MAX_STORED_VALUE = 2**BITS_STORED - 1
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:{PRODUCT_NAME}:synthetic-series")
_SC_ONLY = ("ConversionType", "DateOfSecondaryCapture", "TimeOfSecondaryCapture")


@dataclass(frozen=True)
class WriterOptions:
    """How a synthetic series is written.

    Attributes:
        uid_seed: when given, Series and SOP Instance UIDs are name-based (2.25 + UUID v5, PS3.5 B.2) from it and
            from the inputs, so the same study processed twice gets the same UIDs; None makes random UIDs.
        burn_label: draw "SYNTHETIC" into every slice (off for downstream AI, which should see clean pixels).
        sop_class: "sc" Secondary Capture Image Storage, or "mr" derived MR Image Storage for tools that need MR.
        transfer_syntax_uid: Explicit VR Little Endian, or RLE Lossless.
        label_height_fraction: height of the label's capitals as a fraction of the image height.
        label_corner: one of top-left, top-right, bottom-left, bottom-right.
        synthetic_data_attribute: also set Synthetic Data (0008,001C) YES (SOP Common, PS3.3 C.12.1). The
            dicom3tools 2022 validator here predates it and reports an Error for it, hence off by default.
        output_grid: "reference" writes slice for slice on the reference series (linked scrolling with it);
            "isotropic" writes the model's 1 mm RAS grid as axial slices (no second resampling).
    """

    uid_seed: str | None = None
    burn_label: bool = True
    sop_class: str = "sc"
    transfer_syntax_uid: str = ExplicitVRLittleEndian
    label_height_fraction: float = 0.05
    label_corner: str = "top-left"
    synthetic_data_attribute: bool = False
    output_grid: str = "reference"

    def __post_init__(self) -> None:
        if self.output_grid not in OUTPUT_GRIDS:
            raise ValueError(f"WriterOptions.output_grid {self.output_grid!r}: expected one of {OUTPUT_GRIDS}")
        if self.sop_class not in SOP_CLASSES:
            raise ValueError(f"WriterOptions.sop_class {self.sop_class!r}: expected one of {SOP_CLASSES}")
        if self.transfer_syntax_uid not in TRANSFER_SYNTAXES:
            raise ValueError(
                f"WriterOptions.transfer_syntax_uid {self.transfer_syntax_uid!r}: expected one of {TRANSFER_SYNTAXES}"
            )
        if not 0.01 <= self.label_height_fraction <= 0.2:
            raise ValueError(f"WriterOptions.label_height_fraction {self.label_height_fraction}: expected 0.01 to 0.2")
        if self.label_corner not in CORNERS:
            raise ValueError(f"WriterOptions.label_corner {self.label_corner!r}: expected one of {CORNERS}")


@dataclass(frozen=True)
class _Series:
    """What every instance of one synthetic series shares."""

    label: str
    series_uid: str
    series_number: int
    description: str
    derivation: str
    software_versions: tuple[str, ...]
    equipment: hd.ContributingEquipment
    referenced_series: list[Dataset]
    window: tuple[float, float]
    now: datetime.datetime


def name_uid(*parts: object) -> str:
    """A UID in the 2.25 arc from a name-based UUID (version 5, SHA-1) of `parts` (PS3.5 B.2).

    pydicom's `generate_uid(entropy_srcs=...)` cannot be used: here it ignores the entropy sources.
    """
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, '/'.join(str(p) for p in parts)).int}"


def contrast_label(contrast: object) -> str:
    """The display label of a contrast key ("flair" or `Contrast.FLAIR` -> "FLAIR")."""
    key = str(getattr(contrast, "value", contrast)).strip().lower()
    if key not in CONTRAST_LABELS:
        raise ValueError(f"contrast {contrast!r}: expected one of {tuple(CONTRAST_LABELS)}")
    return CONTRAST_LABELS[key]


@functools.lru_cache(maxsize=1)
def _product_version() -> str | None:
    try:
        return importlib.metadata.version(PRODUCT_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None


def _stored_volume(volume: np.ndarray, grid: ReferenceGrid, label: str) -> np.ndarray:
    """The volume as 12-bit stored values (columns, rows, slices), uint16; clip to [0, 1] with a warning."""
    volume = np.asarray(volume)
    if volume.shape != grid.shape:
        raise VolumeError(
            f"synthetic {label} volume shape {volume.shape} does not match reference series "
            f"{grid.series_instance_uid}: expected (columns, rows, slices) = {grid.shape}"
        )
    if not (np.issubdtype(volume.dtype, np.floating) or np.issubdtype(volume.dtype, np.integer)):
        raise VolumeError(f"synthetic {label} volume dtype {volume.dtype}: expected real numbers in [0, 1]")
    volume = volume.astype(np.float32, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(volume)))
    if bad:
        raise VolumeError(f"synthetic {label} volume has {bad} NaN or infinite values")
    outside = int(np.count_nonzero((volume < 0) | (volume > 1)))
    if outside:
        logger.warning(
            "synthetic %s volume: %d values outside [0, 1] (min %.4g, max %.4g) clipped",
            label,
            outside,
            float(volume.min()),
            float(volume.max()),
        )
    return np.rint(np.clip(volume, 0.0, 1.0) * MAX_STORED_VALUE).astype(np.uint16)


def _window(stored: np.ndarray) -> tuple[float, float]:
    """(Window Center, Window Width) from the 1st and 99th percentiles of the non-background stored values."""
    foreground = stored[stored > 0.02 * MAX_STORED_VALUE]
    if foreground.size == 0:
        return (MAX_STORED_VALUE + 1) / 2, float(MAX_STORED_VALUE + 1)
    low, high = np.percentile(foreground, [1.0, 99.0])
    return round(float(low + high) / 2, 1), round(max(float(high - low), 16.0), 1)


def _series_uid(
    options: WriterOptions, grid: ReferenceGrid, contrast: str, source_series: dict, model: tuple[str, ...]
) -> str:
    """Name-based from the seed, the inputs (every instance UID), the contrast, the model and the options that
    change the pixels or the SOP class; random without a seed. Changed inputs or model give new UIDs."""
    if options.uid_seed is None:
        return f"2.25.{uuid.uuid4().int}"
    inputs = sorted(str(ds.SOPInstanceUID) for datasets in [grid.datasets, *source_series.values()] for ds in datasets)
    digest = hashlib.sha256("\n".join(inputs).encode()).hexdigest()
    return name_uid(
        "series",
        options.uid_seed,
        grid.datasets[0].StudyInstanceUID,
        contrast,
        options.sop_class,
        options.burn_label,
        options.output_grid,
        *model,
        digest,
    )


def _as_derived_mr(image: hd.sc.SCImage, ref: Dataset) -> None:
    """Turn a built SC image into a derived MR Image (PS3.3 A.4.3; MR Image Module C.8.3.1) in place.

    Scanning Sequence RM ("research mode", the defined term outside SE/IR/GR/EP) and Sequence Variant NONE;
    Repetition Time, Echo Time, Echo Train Length, Scan Options and MR Acquisition Type are Type 2 and left
    empty (unknown): no pulse sequence produced these pixels, and copying the reference's would lie.
    """
    image.SOPClassUID = MRImageStorage
    image.file_meta.MediaStorageSOPClassUID = MRImageStorage
    for keyword in _SC_ONLY:
        if keyword in image:
            delattr(image, keyword)
    image.PatientPosition = ref.get("PatientPosition")  # General Series, Type 2C for MR
    image.ScanningSequence = "RM"
    image.SequenceVariant = "NONE"
    for keyword in ("ScanOptions", "MRAcquisitionType", "RepetitionTime", "EchoTime", "EchoTrainLength"):
        setattr(image, keyword, None)


def _instance(
    series: _Series,
    grid: ReferenceGrid,
    k: int,
    pixels: np.ndarray,
    sop_uid: str,
    options: WriterOptions,
    source_image: Dataset,
) -> hd.sc.SCImage:
    ref = grid.datasets[k]
    now = series.now
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref,
        pixel_array=pixels,
        photometric_interpretation="MONOCHROME2",
        bits_allocated=16,
        coordinate_system="PATIENT",
        series_instance_uid=series.series_uid,
        series_number=series.series_number,
        sop_instance_uid=sop_uid,
        instance_number=k + 1,
        manufacturer=MANUFACTURER,
        pixel_spacing=grid.pixel_spacing,
        patient_orientation=grid.patient_orientation,
        transfer_syntax_uid=options.transfer_syntax_uid,
        contributing_equipment=[series.equipment],
        series_description=series.description,
        manufacturer_model_name=MODEL_NAME,
        software_versions=list(series.software_versions),
        series_date=now.date(),
        series_time=now.time(),
        content_date=now.date(),
        content_time=now.time(),
    )
    copy_patient_and_study(ref, image)
    image.Modality = "MR"  # an SC of MR origin keeps the source modality (General Series); dciodvfy accepts it
    image.BodyPartExamined = BODY_PART_EXAMINED  # dciodvfy wants Laterality on SC without it
    image.ImageType = list(IMAGE_TYPE)
    image.ConversionType = "WSD"  # workstation
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "FrameOfReferenceUID"):
        setattr(image, keyword, ref[keyword].value)
    image.SliceThickness = ref.get("SliceThickness")
    if grid.spacing_between_slices is not None:
        image.SpacingBetweenSlices = grid.spacing_between_slices
    image.PositionReferenceIndicator = ref.get("PositionReferenceIndicator")
    image.BitsStored, image.HighBit = BITS_STORED, BITS_STORED - 1
    image.WindowCenter, image.WindowWidth = series.window
    image.BurnedInAnnotation = "YES" if options.burn_label else "NO"
    image.ImageComments = IMAGE_COMMENTS
    image.DerivationDescription = series.derivation
    source = instance_reference([source_image], str(source_image.SeriesInstanceUID))
    source[0].PurposeOfReferenceCodeSequence = [
        hd.sr.CodedConcept.from_code(codes.DCM.SourceImageForImageProcessingOperation)
    ]
    image.SourceImageSequence = source
    image.ReferencedSeriesSequence = series.referenced_series
    if options.synthetic_data_attribute:
        image.SyntheticData = "YES"
    if options.sop_class == "mr":
        _as_derived_mr(image, ref)
    return image


def write_synthetic_series(
    volume: np.ndarray,
    reference: list[Dataset],
    contrast: str,
    out_dir: Path,
    options: WriterOptions,
    *,
    series_number: int,
    source_series: dict[str, list[Dataset]],
    model_name: str,
    model_version: str,
    device_uid: str | None = None,
    source_images: Sequence[Dataset] | None = None,
) -> list[Path]:
    """Write a synthetic contrast, one instance per reference slice, into `out_dir/<SeriesNumber>_<CONTRAST>/`.

    Args:
        volume: float values in [0, 1] indexed [column i, row j, slice k] on the reference grid; slice k is the
            k-th reference instance sorted by Image Position (Patient) along the slice normal (see
            `operators.writing.sc_reference`). Values outside [0, 1] are clipped with a warning; stored as 0..4095.
        reference: the instances of the series whose grid the volume is on (any order).
        contrast: the synthesized contrast (t1, t1ce, t2, flair, or a `Contrast`).
        out_dir: parent folder; a previous series of the same folder name there is replaced.
        options: UIDs, label, SOP class and transfer syntax.
        series_number: Series Number (0020,0011) of the new series.
        source_series: the input series the model used, by contrast key, for the derivation text and references.
        model_name: the synthesis model's name, e.g. "MSG-LDM".
        model_version: its version.
        device_uid: Device UID of the model in Contributing Equipment; by default name-based from name and
            version, so that it changes whenever the model does.
        source_images: when `reference` is a virtual grid (`operators.writing.isotropic_grid`), the acquired instance
            each slice references as its Source Image (the virtual instances themselves are never referenced);
            by default each slice references its reference instance.

    Returns:
        The files written, in instance order.

    Raises:
        VolumeError: (`operators.errors`, a ValueError) volume shape not (Columns, Rows, slices) of the reference
            (both named), NaN or infinite values, a reference without geometry (the tag named) or not one stack.
        ValueError: sources from another study or not images, an unknown contrast, a bad series number.
    """
    label = contrast_label(contrast)
    key = label.lower()
    if isinstance(series_number, bool) or not isinstance(series_number, int) or not 0 <= series_number < 2**31:
        raise ValueError(f"series_number {series_number!r}: expected an integer from 0 to 2147483647 (IS)")
    grid = reference_grid(reference)
    stored = _stored_volume(volume, grid, label)
    if device_uid is None:
        device_uid = name_uid("device", model_name, model_version)
    sources = ", ".join(CONTRAST_LABELS.get(str(c).lower(), str(c)) for c in source_series) or "no named source"
    derivation = (
        f"Synthesized {label} from {sources} with {model_name} {model_version}; not acquired; not for diagnosis"
    )
    now = datetime.datetime.now()
    equipment = hd.ContributingEquipment(
        manufacturer=MANUFACTURER,
        purpose_of_reference=codes.DCM.SynthesizingEquipment,
        manufacturer_model_name=model_name,
        software_versions=model_version,
        contribution_datetime=now,
        contribution_description=derivation,
    )
    equipment.DeviceUID = device_uid
    version = _product_version()
    series = _Series(
        label=label,
        series_uid=_series_uid(options, grid, key, source_series, (model_name, model_version, device_uid)),
        series_number=series_number,
        description=f"{SERIES_DESCRIPTION_PREFIX} {label} ({model_name})"[:64],
        derivation=derivation,
        software_versions=(*([f"{PRODUCT_NAME} {version}"] if version else []), f"{model_name} {model_version}"),
        equipment=equipment,
        referenced_series=referenced_series(grid, source_series, include_reference=source_images is None),
        window=_window(stored),
        now=now,
    )
    if source_images is not None and len(source_images) != len(grid.datasets):
        raise ValueError(f"{len(source_images)} source images for {len(grid.datasets)} slices: expected one each")
    sources_by_slice = list(source_images) if source_images is not None else list(grid.datasets)

    def instances():
        for k, ref in enumerate(grid.datasets):
            pixels = np.ascontiguousarray(stored[:, :, k].T)
            if options.burn_label:
                burn_label(
                    pixels, MAX_STORED_VALUE, height_fraction=options.label_height_fraction, corner=options.label_corner
                )
            sop_uid = (
                name_uid("instance", series.series_uid, ref.SOPInstanceUID)
                if options.uid_seed is not None
                else f"2.25.{uuid.uuid4().int}"
            )
            yield _instance(series, grid, k, pixels, sop_uid, options, sources_by_slice[k])

    paths = write_series_folder(Path(out_dir) / f"{series_number}_{label.upper()}", instances())
    logger.info("synthetic %s series %s: %d instances written", label, series.series_uid, len(paths))
    return paths
