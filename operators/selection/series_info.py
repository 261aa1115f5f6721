"""A per-series header summary (`SeriesInfo`) built from the instances of one DICOM series.

Series selection and contrast identification work on this summary only, never on
files, so that they can be tested with plain objects. Classic MR Image Storage
(one slice an instance) and Enhanced / Legacy Converted Enhanced MR Image
Storage (many frames an instance, their attributes in the Shared and Per-frame
Functional Groups, PS3.3 C.7.6.16 and C.8.13.5) are both read. Any attribute
may be absent (anonymisers strip many): the summary then holds None or an
empty tuple, never raises.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from operators.selection import dicom_values as values
from operators.selection.slice_geometry import GEOMETRY, has_functional_groups, image_planes
from product.errors import ProductError

logger = logging.getLogger(__name__)

ORIENTATION_TOLERANCE = 1e-3
"""Largest difference of a direction cosine for two orientations to count as the same."""

POSITION_MERGE_MM = 0.05
"""Slice positions closer than this along the normal are one slice (repeated echoes, b-values, phases)."""

GEOMETRY_TAGS = tuple(keyword for keyword, *_ in GEOMETRY.values())
"""The Image Plane attributes (PS3.3 C.7.6.2) without which no volume can be assembled."""


class SeriesInfoError(ProductError, ValueError):
    """The instances given cannot be summarised as one series (none at all, or several series)."""


@dataclass(frozen=True)
class SeriesInfo:
    """What series selection and contrast identification need to know about one series.

    Times are in ms as in DICOM (RepetitionTime, EchoTime, InversionTime); times
    of day in seconds after midnight. A multi-echo series (a PD/T2 dual echo, a
    multi-echo gradient echo) lists its echoes in `echo_times`, and `echo_time`
    is the longest: the series is judged by its most T2-weighted image, the
    one volume assembly uses. `slice_positions` holds the position of
    every slice or frame along the normal of the first orientation, sorted, with
    repeats (echoes, b-values) kept.
    """

    series_instance_uid: str
    study_instance_uid: str | None = None
    modality: str | None = None
    sop_class_uid: str | None = None
    series_description: str | None = None
    protocol_name: str | None = None
    sequence_name: str | None = None
    scanning_sequence: tuple[str, ...] = ()
    sequence_variant: tuple[str, ...] = ()
    scan_options: tuple[str, ...] = ()
    mr_acquisition_type: str | None = None
    image_type: tuple[str, ...] = ()
    acquisition_contrast: str | None = None
    repetition_time: float | None = None
    echo_time: float | None = None
    echo_times: tuple[float, ...] = ()
    inversion_time: float | None = None
    flip_angle: float | None = None
    magnetic_field_strength: float | None = None
    contrast_bolus_agent: str | None = None
    contrast_bolus_route: str | None = None
    contrast_bolus_start_time_s: float | None = None
    acquisition_date: str | None = None
    acquisition_time_s: float | None = None
    series_number: int | None = None
    manufacturer: str | None = None
    software_versions: tuple[str, ...] = ()
    number_of_instances: int = 0
    number_of_frames: int = 0
    image_orientation_patient: tuple[float, ...] | None = None
    orientation_consistent: bool = True
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    slice_positions: tuple[float, ...] = ()
    missing_geometry: tuple[str, ...] = ()
    frame_of_reference_uid: str | None = None
    body_part_examined: str | None = None
    diffusion_b_values: tuple[float, ...] = ()
    rows: int | None = None
    columns: int | None = None

    @property
    def label(self) -> str:
        """How reasons and logs name the series: its description and number."""
        number = "?" if self.series_number is None else self.series_number
        return f"{self.series_description or '(no description)'} (series {number})"

    @property
    def is_3d(self) -> bool:
        """Whether MR Acquisition Type says 3D."""
        return (self.mr_acquisition_type or "").upper() == "3D"

    @property
    def unique_slice_positions(self) -> tuple[float, ...]:
        """Distinct slice positions along the normal (repeats within POSITION_MERGE_MM merged)."""
        unique: list[float] = []
        for position in self.slice_positions:
            if not unique or position - unique[-1] > POSITION_MERGE_MM:
                unique.append(position)
        return tuple(unique)

    @property
    def slice_count(self) -> int:
        """Number of distinct slices, or of frames when no position is known."""
        return len(self.unique_slice_positions) if self.slice_positions else self.number_of_frames

    @property
    def slice_spacings(self) -> tuple[float, ...]:
        """Gaps between consecutive distinct slice positions, in mm."""
        unique = self.unique_slice_positions
        return tuple(b - a for a, b in zip(unique, unique[1:]))

    @property
    def spacing_regular(self) -> bool | None:
        """Whether every slice gap is within 10 % (or 0.1 mm) of the median gap; None below three slices."""
        gaps = sorted(self.slice_spacings)
        if len(gaps) < 2:
            return None
        median = gaps[len(gaps) // 2]
        return all(abs(gap - median) <= max(0.1, 0.1 * median) for gap in gaps)

    @property
    def covered_length_mm(self) -> float | None:
        """Extent of the stack along its normal: centre-to-centre span plus one slice thickness (or gap)."""
        unique = self.unique_slice_positions
        if not unique:
            return None
        gaps = sorted(self.slice_spacings)
        one_slice = self.slice_thickness or (gaps[len(gaps) // 2] if gaps else 0.0)
        return unique[-1] - unique[0] + one_slice

    @property
    def voxel_volume_mm3(self) -> float | None:
        """In-plane pixel area times slice thickness (or slice gap when the thickness is absent)."""
        if self.pixel_spacing is None:
            return None
        gaps = sorted(self.slice_spacings)
        depth = self.slice_thickness or (gaps[len(gaps) // 2] if gaps else None)
        return None if not depth else self.pixel_spacing[0] * self.pixel_spacing[1] * depth

    @property
    def has_contrast_tags(self) -> bool:
        """Whether any Contrast/Bolus module attribute (agent, route, start time) is filled."""
        return any(
            v is not None
            for v in (self.contrast_bolus_agent, self.contrast_bolus_route, self.contrast_bolus_start_time_s)
        )

    @property
    def acquisition_key(self) -> tuple[str, float] | None:
        """A sortable acquisition moment (date, seconds after midnight), or None when the time is unknown."""
        if self.acquisition_time_s is None:
            return None
        return (self.acquisition_date or "", self.acquisition_time_s)


@dataclass(frozen=True)
class _Frame:
    """Geometry of one slice: a single-frame instance or one frame of a multi-frame instance."""

    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_thickness: float | None
    b_value: float | None


def series_info_from_datasets(datasets: Sequence[Dataset]) -> SeriesInfo:
    """Summarise one series from the headers of its instances (pixel data is not needed).

    Args:
        datasets: every instance of the series, in any order, e.g. read with
            `pydicom.dcmread(path, stop_before_pixels=True)`.

    Returns:
        The series summary; attributes absent from the headers are None.

    Raises:
        SeriesInfoError: no dataset, no SeriesInstanceUID, or instances of several series.
    """
    if not datasets:
        raise SeriesInfoError("no instances given: a series needs at least one dataset")
    uids = sorted({values.as_text(ds.get("SeriesInstanceUID")) or "" for ds in datasets} - {""})
    if not uids:
        raise SeriesInfoError("no instance has a SeriesInstanceUID (0020,000E)")
    if len(uids) > 1:
        raise SeriesInfoError(f"instances of {len(uids)} series given ({', '.join(uids[:3])}...): expected one")
    ordered = sorted(datasets, key=lambda ds: values.as_int(ds.get("InstanceNumber")) or 0)
    first = ordered[0]
    frames = [frame for ds in ordered for frame in _frames(ds)]
    timing = _enhanced_timing(first) if has_functional_groups(first) else {}
    orientation = next((f.orientation for f in frames if f.orientation is not None), None)
    image_type = values.union(
        [values.as_upper_strings(ds.get("ImageType")) for ds in ordered] + [_frame_types(first)],
    )
    date, time_s = values.earliest_moment(ordered)
    echoes = echo_times(ordered)
    return SeriesInfo(
        series_instance_uid=uids[0],
        study_instance_uid=values.as_text(first.get("StudyInstanceUID")),
        modality=values.as_upper(first.get("Modality")),
        sop_class_uid=values.as_text(first.get("SOPClassUID")),
        series_description=values.as_text(first.get("SeriesDescription")),
        protocol_name=values.as_text(first.get("ProtocolName")),
        sequence_name=values.as_text(first.get("SequenceName")) or values.as_text(first.get("PulseSequenceName")),
        scanning_sequence=values.as_upper_strings(first.get("ScanningSequence")) or timing.get("scanning_sequence", ()),
        sequence_variant=values.as_upper_strings(first.get("SequenceVariant")),
        scan_options=values.as_upper_strings(first.get("ScanOptions")),
        mr_acquisition_type=values.as_upper(first.get("MRAcquisitionType")),
        image_type=image_type,
        acquisition_contrast=values.as_upper(first.get("AcquisitionContrast")),
        repetition_time=values.first_number(first.get("RepetitionTime"), timing.get("tr")),
        echo_time=max(echoes) if len(echoes) > 1 else values.first_number(first.get("EchoTime"), timing.get("te")),
        echo_times=echoes,
        inversion_time=values.first_number(first.get("InversionTime"), timing.get("ti")),
        flip_angle=values.first_number(first.get("FlipAngle"), timing.get("flip")),
        magnetic_field_strength=values.as_float(first.get("MagneticFieldStrength")),
        contrast_bolus_agent=values.as_text(first.get("ContrastBolusAgent")),
        contrast_bolus_route=values.as_text(first.get("ContrastBolusRoute")),
        contrast_bolus_start_time_s=values.tm_seconds(first.get("ContrastBolusStartTime")),
        acquisition_date=date,
        acquisition_time_s=time_s,
        series_number=values.as_int(first.get("SeriesNumber")),
        manufacturer=values.as_text(first.get("Manufacturer")),
        software_versions=values.as_strings(first.get("SoftwareVersions")),
        number_of_instances=len(ordered),
        number_of_frames=len(frames),
        image_orientation_patient=orientation,
        orientation_consistent=_same_orientation(frames),
        pixel_spacing=next(
            ((f.pixel_spacing[0], f.pixel_spacing[1]) for f in frames if f.pixel_spacing is not None), None
        ),
        slice_thickness=next((f.slice_thickness for f in frames if f.slice_thickness), None),
        slice_positions=_positions_along_normal(frames, orientation),
        missing_geometry=_missing_geometry(frames),
        frame_of_reference_uid=values.as_text(first.get("FrameOfReferenceUID")),
        body_part_examined=values.as_upper(first.get("BodyPartExamined")),
        diffusion_b_values=tuple(sorted({f.b_value for f in frames if f.b_value is not None})),
        rows=values.as_int(first.get("Rows")),
        columns=values.as_int(first.get("Columns")),
    )


def echo_times(datasets: Sequence[Dataset]) -> tuple[float, ...]:
    """The distinct EchoTime values of single-frame instances, sorted (empty when none is given)."""
    found = {values.as_float(ds.get("EchoTime")) for ds in datasets}
    return tuple(sorted(te for te in found if te is not None))


def _frames(ds: Dataset) -> Iterator[_Frame]:
    """The slices of one instance: its frames (multi-frame) or the instance itself."""
    for plane in image_planes(ds):
        yield _Frame(
            position=plane.position,
            orientation=plane.orientation,
            pixel_spacing=plane.pixel_spacing,
            slice_thickness=plane.slice_thickness,
            b_value=values.as_float(plane.value("MRDiffusionSequence", "DiffusionBValue")),
        )


def _enhanced_timing(ds: Dataset) -> dict[str, object]:
    """TR, TE, TI, flip angle and a ScanningSequence equivalent of an Enhanced MR instance (PS3.3 C.8.13).

    Enhanced MR has no ScanningSequence: Echo Pulse Sequence (SPIN, GRADIENT,
    BOTH), Echo Planar Pulse Sequence and the Inversion Recovery flag of the MR
    Modifier macro give the same information, written here as SE/GR/EP/IR.
    Legacy Converted Enhanced MR keeps the classic attributes in its Unassigned
    Shared / Per-frame Converted Attributes macros, read when the others are absent.
    """
    first = next(image_planes(ds))
    item, shared = first.per_frame, first.shared

    def group(sequence: str, attribute: str) -> object:
        return values.functional_value(item, shared, sequence, attribute)

    def legacy(attribute: str) -> object:
        return values.functional_value(
            None, shared, "UnassignedSharedConvertedAttributesSequence", attribute
        ) or values.functional_value(item, None, "UnassignedPerFrameConvertedAttributesSequence", attribute)

    inversion = values.as_upper(group("MRModifierSequence", "InversionRecovery"))
    echo = {"SPIN": ("SE",), "GRADIENT": ("GR",), "BOTH": ("SE", "GR")}.get(
        values.as_upper(ds.get("EchoPulseSequence")) or "", ()
    )
    scanning = echo + (("EP",) if values.as_upper(ds.get("EchoPlanarPulseSequence")) == "YES" else ())
    scanning += ("IR",) if inversion == "YES" else ()
    inversion_times = values.as_floats(group("MRModifierSequence", "InversionTimes"), None)
    ti = inversion_times[0] if inversion == "YES" and inversion_times else None
    return {
        "tr": values.first_number(
            group("MRTimingAndRelatedParametersSequence", "RepetitionTime"), legacy("RepetitionTime")
        ),
        "flip": values.first_number(group("MRTimingAndRelatedParametersSequence", "FlipAngle"), legacy("FlipAngle")),
        "te": values.first_number(group("MREchoSequence", "EffectiveEchoTime"), legacy("EchoTime")),
        "ti": values.first_number(ti, legacy("InversionTime")),
        "scanning_sequence": scanning or values.as_upper_strings(legacy("ScanningSequence")),
    }


def _frame_types(ds: Dataset) -> tuple[str, ...]:
    """Frame Type of an Enhanced MR instance's first frame (shared or per-frame MR Image Frame Type macro)."""
    first = next(image_planes(ds))
    return values.as_upper_strings(
        values.functional_value(first.per_frame, first.shared, "MRImageFrameTypeSequence", "FrameType")
    )


def _same_orientation(frames: list[_Frame]) -> bool:
    """Whether every frame with an orientation has that of the first, within ORIENTATION_TOLERANCE."""
    known = [f.orientation for f in frames if f.orientation is not None]
    return all(max(abs(a - b) for a, b in zip(o, known[0])) <= ORIENTATION_TOLERANCE for o in known)


def _positions_along_normal(frames: list[_Frame], orientation: tuple[float, ...] | None) -> tuple[float, ...]:
    """Sorted distances of the frames' positions along the normal (row x column) of the first orientation."""
    if orientation is None:
        return ()
    r, c = orientation[:3], orientation[3:]
    normal = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    norm = math.sqrt(sum(v * v for v in normal))
    if norm < 1e-6:
        return ()
    return tuple(sorted(sum(p * n for p, n in zip(f.position, normal)) / norm for f in frames if f.position))


def _missing_geometry(frames: list[_Frame]) -> tuple[str, ...]:
    """Names of the geometry attributes absent from at least one frame."""
    present = {
        "ImagePositionPatient": all(f.position is not None for f in frames),
        "ImageOrientationPatient": all(f.orientation is not None for f in frames),
        "PixelSpacing": all(f.pixel_spacing is not None for f in frames),
    }
    return tuple(tag for tag in GEOMETRY_TAGS if not present[tag])
