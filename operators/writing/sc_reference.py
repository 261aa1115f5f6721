"""The slice grid of the reference series a synthetic series is written on: instances sorted along the normal.

A synthetic volume arrives indexed [column i, row j, slice k] on the grid of
one reference series. Slice k is the k-th reference instance sorted by its
Image Position (Patient) (0020,0032) projected on the slice normal, the cross
product of the row and column direction cosines of Image Orientation
(Patient) (0020,0037) (PS3.3 C.7.6.2.1.1, Image Plane Module). Sorting here,
not trusting Instance Number or file order, keeps slice k of the synthetic
series on slice k of the reference whatever order the instances arrived in.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from operators.errors import VolumeError
from operators.selection.slice_geometry import image_planes

logger = logging.getLogger(__name__)

IDENTITY_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
GEOMETRY_KEYWORDS = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "FrameOfReferenceUID",
)
PATIENT_STUDY_KEYWORDS = (
    # Patient Module (PS3.3 C.7.1.1)
    *("PatientName", "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "TypeOfPatientID"),
    *("PatientBirthDate", "PatientBirthTime", "PatientSex", "QualityControlSubject", "OtherPatientIDsSequence"),
    *("OtherPatientNames", "EthnicGroup", "PatientComments", "PatientSpeciesDescription", "PatientSpeciesCodeSequence"),
    *("PatientBreedDescription", "PatientBreedCodeSequence", "ResponsiblePerson", "ResponsiblePersonRole"),
    *("ResponsibleOrganization", "PatientIdentityRemoved", "DeidentificationMethod"),
    "DeidentificationMethodCodeSequence",
    # Clinical Trial Subject Module (C.7.1.3)
    *("ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialProtocolName", "ClinicalTrialSiteID"),
    *("ClinicalTrialSiteName", "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID"),
    # General Study Module (C.7.2.1)
    *(
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "ReferringPhysicianIdentificationSequence",
    ),
    *("StudyID", "AccessionNumber", "IssuerOfAccessionNumberSequence", "StudyDescription", "PhysiciansOfRecord"),
    *("NameOfPhysiciansReadingStudy", "RequestingService", "ProcedureCodeSequence"),
    "ReasonForPerformedProcedureCodeSequence",
    # Patient Study Module (C.7.2.2)
    *("AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "PatientAge", "PatientSize", "PatientWeight"),
    *("PatientBodyMassIndex", "Occupation", "AdditionalPatientHistory", "AdmissionID", "PregnancyStatus"),
    # Clinical Trial Study Module (C.7.2.3)
    *("ClinicalTrialTimePointID", "ClinicalTrialTimePointDescription", "ConsentForClinicalTrialUseSequence"),
)
"""Root attributes of the Patient and Study IE modules: a derived series of the same study repeats them."""
ORIENTATION_TOLERANCE = 1e-4
POSITION_TOLERANCE_MM = 1e-3
UNEVEN_SPACING_FRACTION = 0.01
_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))
"""Patient Orientation letter of a direction along -/+ x, y, z of the LPS patient system (PS3.3 C.7.6.1.1.1)."""


def tag_name(keyword: str) -> str:
    """e.g. "ImagePositionPatient (0020,0032)"."""
    tag = tag_for_keyword(keyword)
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else keyword


@dataclass(frozen=True)
class ReferenceGrid:
    """A reference series' slices, sorted along the normal, and the geometry they share.

    Attributes:
        series_instance_uid: the reference series.
        datasets: the instances, sorted by position along `normal` (slice k of the volume is datasets[k]).
        rows: Rows of every instance.
        columns: Columns of every instance.
        pixel_spacing: (row spacing, column spacing) in mm, as Pixel Spacing (0028,0030) gives them.
        orientation: Image Orientation (Patient) of every instance.
        positions: position of each sorted instance along the normal, in mm.
    """

    series_instance_uid: str
    datasets: tuple[Dataset, ...]
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]
    orientation: tuple[float, ...]
    positions: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, slices): the shape a volume on this grid must have."""
        return self.columns, self.rows, len(self.datasets)

    @property
    def spacing_between_slices(self) -> float | None:
        """Distance between adjacent slice centres in mm; None for one slice or uneven spacing."""
        if len(self.positions) < 2:
            return None
        steps = np.diff(self.positions)
        spacing = float(np.median(steps))
        if np.max(np.abs(steps - spacing)) > UNEVEN_SPACING_FRACTION * spacing:
            return None
        return round(spacing, 6)

    @property
    def patient_orientation(self) -> tuple[str, str]:
        """Patient Orientation (0020,0020): the main direction of the rows and of the columns, e.g. ("L", "P")."""
        letters = []
        for direction in (self.orientation[:3], self.orientation[3:]):
            axis = int(np.argmax(np.abs(direction)))
            letters.append(_LETTERS[axis][int(direction[axis] > 0)])
        return letters[0], letters[1]


def copy_patient_and_study(source: Dataset, target: Dataset) -> None:
    """Copy every `PATIENT_STUDY_KEYWORDS` attribute `source` has into `target` (deep copies, values as stored)."""
    for keyword in PATIENT_STUDY_KEYWORDS:
        if keyword in source:
            target.add(copy.deepcopy(source[keyword]))


def _require(ds: Dataset, keyword: str, index: int, series: str) -> object:
    value = ds.get(keyword)
    if value is None or value == "" or (isinstance(value, Sequence) and not isinstance(value, str) and not value):
        sop = ds.get("SOPInstanceUID", "?")
        raise VolumeError(
            f"reference instance {index} ({sop}) of series {series} has no {tag_name(keyword)}: "
            "the synthetic series needs the reference series' slice geometry"
        )
    return value


def reference_grid(reference: Sequence[Dataset]) -> ReferenceGrid:
    """Check a reference series' geometry and sort its instances along the slice normal.

    Args:
        reference: the instances of one single-frame series (headers suffice; pixels are not read).

    Returns:
        The sorted grid.

    Raises:
        VolumeError: (a ValueError) no instance; an instance without an identity or geometry attribute (named
            with its tag); instances of several series or studies; orientation, size or spacing that differ between
            instances; orientation vectors that are not unit and orthogonal; two instances at one position.
    """
    if not reference:
        raise VolumeError("reference series has no instances")
    series = str(reference[0].get("SeriesInstanceUID", "?"))
    for index, ds in enumerate(reference):
        for keyword in IDENTITY_KEYWORDS + GEOMETRY_KEYWORDS:
            _require(ds, keyword, index, series)
    for keyword in ("SeriesInstanceUID", "StudyInstanceUID", "Rows", "Columns", "FrameOfReferenceUID"):
        values = {str(ds.get(keyword)) for ds in reference}
        if len(values) > 1:
            raise VolumeError(f"reference series {series}: instances differ in {tag_name(keyword)}: {sorted(values)}")
    if len({str(ds.SOPInstanceUID) for ds in reference}) < len(reference):
        raise VolumeError(f"reference series {series}: an instance is given twice (same SOPInstanceUID)")
    label = f"reference series {series}"
    planes = [next(image_planes(ds)) for ds in reference]
    orientations = np.array([plane.require("orientation", label) for plane in planes])
    spacings = np.array([plane.require("pixel_spacing", label) for plane in planes])
    for keyword, values in (("ImageOrientationPatient", orientations), ("PixelSpacing", spacings)):
        if np.max(np.abs(values - values[0])) > ORIENTATION_TOLERANCE:
            raise VolumeError(
                f"reference series {series}: instances differ in {tag_name(keyword)}; not one slice stack"
            )
    row, col = orientations[0][:3], orientations[0][3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(row @ col) > 1e-3:
        raise VolumeError(
            f"reference series {series}: {tag_name('ImageOrientationPatient')} is not two unit, "
            f"orthogonal vectors: {orientations[0].tolist()}"
        )
    normal = np.cross(row, col)
    positions = [float(plane.require("position", label) @ normal) for plane in planes]
    order = np.argsort(positions, kind="stable")
    sorted_positions = tuple(positions[i] for i in order)
    if len(order) > 1 and np.min(np.diff(sorted_positions)) < POSITION_TOLERANCE_MM:
        raise VolumeError(
            f"reference series {series}: two instances at the same position along the normal; "
            "not one slice stack (several echoes or phases?)"
        )
    grid = ReferenceGrid(
        series_instance_uid=series,
        datasets=tuple(reference[i] for i in order),
        rows=int(reference[0].Rows),
        columns=int(reference[0].Columns),
        pixel_spacing=(float(spacings[0][0]), float(spacings[0][1])),
        orientation=tuple(float(v) for v in orientations[0]),
        positions=sorted_positions,
    )
    if len(order) > 1 and grid.spacing_between_slices is None:
        logger.warning("reference series %s: uneven slice spacing; SpacingBetweenSlices left out", series)
    return grid


def instance_reference(datasets: list[Dataset], series: str) -> hd.ReferencedImageSequence:
    """Image SOP Instance Reference Macro items (PS3.3 C.10.4) of image instances."""
    try:
        return hd.ReferencedImageSequence(datasets)
    except (KeyError, ValueError) as error:
        raise ValueError(f"series {series}: cannot reference its instances as images ({error})") from error


def referenced_series(
    grid: ReferenceGrid, source_series: dict[str, list[Dataset]], include_reference: bool = True
) -> list[Dataset]:
    """Referenced Series Sequence of the Common Instance Reference Module (PS3.3 C.12.2).

    Every instance of every source series and (unless `include_reference` is False) of the reference series,
    grouped by series. The sources
    share the study of the output, so the items carry no Study Instance UID (C.12.2: other studies go in
    Studies Containing Other Referenced Instances Sequence, which is not needed here).
    """
    study = grid.datasets[0].StudyInstanceUID
    by_series: dict[str, dict[str, Dataset]] = {}
    reference = [("reference", list(grid.datasets))] if include_reference else []
    for contrast, datasets in [*source_series.items(), *reference]:
        for ds in datasets:
            for keyword in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
                if not ds.get(keyword):
                    raise ValueError(f"{contrast} source instance has no {keyword}; it cannot be referenced")
            if ds.StudyInstanceUID != study:
                raise ValueError(
                    f"{contrast} source series {ds.SeriesInstanceUID} is in study {ds.StudyInstanceUID}, "
                    f"the reference in {study}: a synthetic series joins one study"
                )
            by_series.setdefault(str(ds.SeriesInstanceUID), {})[str(ds.SOPInstanceUID)] = ds
    items = []
    for series_uid, instances in by_series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedInstanceSequence = instance_reference(list(instances.values()), series_uid)
        items.append(item)
    return items
