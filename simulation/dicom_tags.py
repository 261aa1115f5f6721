"""DICOM attributes of a simulated MR image (MR Image Storage, PS3.3 A.4), module by module.

`series_header` fills what every image of a series shares: Patient, General
Study, Patient Study, General Series, Frame of Reference, General Equipment,
Contrast/Bolus (post-contrast series only) and the series-level part of the
MR Image module. `image_dataset` adds one image: General Image, Image Plane,
Image Pixel, VOI LUT and SOP Common, with the file meta information of
Explicit VR Little Endian. No private attributes are written.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from simulation.dicom_geometry import SliceStack
from simulation.study_plan import SeriesPlan, StudyPlan

UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mri-synth-node:simulated-scanner")


def deterministic_uid(*parts: object) -> str:
    """A UID in the 2.25 arc from a name-based (SHA-1, version 5) UUID of `parts` (PS3.5 B.2).

    pydicom's `generate_uid(prefix=None, entropy_srcs=...)` ignores the entropy
    sources and returns a random UUID, so the same seed would not give the same UIDs.
    """
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, '/'.join(str(p) for p in parts)).int}"


IMPLEMENTATION_CLASS_UID = deterministic_uid("implementation", "mri-synth-node")
IMPLEMENTATION_VERSION = "MRISYNTH_SIM_1"
IMAGE_COMMENT = "SIMULATED IMAGE - not a real patient"


@dataclass(frozen=True)
class StudyIdentity:
    """Patient and study attributes shared by every file of one study (all synthetic)."""

    patient_name: str
    patient_id: str
    birth_date: datetime.date
    sex: str
    age_years: int
    weight_kg: float
    height_m: float
    study_uid: str
    frame_of_reference_uid: str
    study_date: datetime.date
    accession_number: str
    study_id: str


@dataclass(frozen=True)
class ContrastBolus:
    """Contrast/Bolus module values of the injection (PS3.3 C.7.6.4)."""

    agent: str
    volume_ml: float
    start_s: float
    ingredient: str = "GADOLINIUM"
    concentration_mg_ml: float = 604.72
    route: str = "IV"


def time_of_day(seconds: float) -> str:
    """TM value (HHMMSS.FFFFFF) of a time in seconds since midnight."""
    micro = int(round(seconds * 1e6))
    whole, fraction = divmod(micro, 1_000_000)
    hours, rest = divmod(whole, 3600)
    return f"{hours:02d}{rest // 60:02d}{rest % 60:02d}.{fraction:06d}"


def _ds(value: float, decimals: int = 6) -> float:
    """A float that fits a DS (16 characters): rounded, negative zero removed."""
    return float(round(float(value), decimals)) + 0.0


def _date(value: datetime.date) -> str:
    return value.strftime("%Y%m%d")


def series_header(
    identity: StudyIdentity,
    study: StudyPlan,
    series: SeriesPlan,
    series_uid: str,
    contrast: ContrastBolus | None,
) -> Dataset:
    """Attributes shared by every image of one series."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = _date(identity.study_date)
    ds.StudyTime = time_of_day(study.study_start_s)
    ds.SeriesTime = time_of_day(series.start_s)
    ds.AccessionNumber = identity.accession_number
    ds.Modality = "MR"
    ds.Manufacturer = study.manufacturer
    ds.InstitutionName = "Simulated Imaging Site"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study.study_description
    ds.SeriesDescription = series.description
    ds.ManufacturerModelName = study.model.name
    # Patient
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = _date(identity.birth_date)
    ds.PatientSex = identity.sex
    ds.PatientAge = f"{identity.age_years:03d}Y"
    ds.PatientSize = _ds(identity.height_m, 2)
    ds.PatientWeight = _ds(identity.weight_kg, 1)
    if contrast is not None:
        ds.ContrastBolusAgent = contrast.agent
        ds.ContrastBolusRoute = contrast.route
        ds.ContrastBolusVolume = _ds(contrast.volume_ml, 1)
        ds.ContrastBolusStartTime = time_of_day(contrast.start_s)
        ds.ContrastBolusTotalDose = _ds(contrast.volume_ml, 1)
        ds.ContrastBolusIngredient = contrast.ingredient
        ds.ContrastBolusIngredientConcentration = _ds(contrast.concentration_mg_ml, 2)
    ds.BodyPartExamined = study.profile.body_part
    _mr_series(ds, study, series)
    ds.SoftwareVersions = list(study.model.software_versions)
    ds.ProtocolName = series.protocol
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = identity.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = identity.study_id
    ds.SeriesNumber = series.number
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = identity.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = IMAGE_COMMENT
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = study.profile.bits_stored
    ds.HighBit = study.profile.bits_stored - 1
    ds.PixelRepresentation = 0
    return ds


def _mr_series(ds: Dataset, study: StudyPlan, series: SeriesPlan) -> None:
    """Series-level MR Image module attributes (PS3.3 C.8.3.1)."""
    naming, acq = series.naming, series.acquisition
    ds.ScanningSequence = list(naming.scanning_sequence)
    ds.SequenceVariant = list(naming.sequence_variant)
    ds.ScanOptions = list(naming.scan_options) if naming.scan_options else ""
    ds.MRAcquisitionType = "3D" if acq.is_3d else "2D"
    ds.AngioFlag = "N"
    ds.RepetitionTime = _ds(acq.tr_ms, 3)
    ds.EchoTime = _ds(acq.te_ms, 3)
    if acq.ti_ms is not None:
        ds.InversionTime = _ds(acq.ti_ms, 1)
    ds.NumberOfAverages = _ds(acq.averages, 1)
    ds.ImagingFrequency = _ds(study.model.imaging_frequency_mhz, 6)
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = _ds(study.model.field_strength_t, 1)
    ds.NumberOfPhaseEncodingSteps = acq.phase_steps
    ds.EchoTrainLength = acq.echo_train_length
    ds.PercentSampling = _ds(acq.percent_sampling, 3)
    ds.PercentPhaseFieldOfView = 100.0
    ds.PixelBandwidth = _ds(acq.pixel_bandwidth, 1)
    ds.ReceiveCoilName = study.receive_coil
    ds.TransmitCoilName = "Body"
    ds.AcquisitionMatrix = list(acq.acquisition_matrix)
    ds.InPlanePhaseEncodingDirection = acq.phase_direction
    ds.FlipAngle = _ds(acq.flip_angle_deg, 1)
    ds.VariableFlipAngleFlag = "Y" if acq.variable_flip_angle else "N"
    ds.SAR = _ds(acq.sar, 5)


def _fields(series: SeriesPlan, b_value: int) -> dict[str, object]:
    """Placeholders of the vendor strings for one image ({etl}, {b}, {t}, {trace})."""
    return {
        "etl": series.acquisition.echo_train_length,
        "b": b_value,
        "t": "t" if b_value > 0 else "",
        "trace": "TRACEW" if b_value > 0 else "NONE",
    }


def image_dataset(
    header: Dataset,
    series: SeriesPlan,
    stack: SliceStack,
    slice_index: int,
    pixels: np.ndarray,
    instance_number: int,
    sop_uid: str,
    acquisition_s: float,
    content_s: float,
    window: tuple[float, float],
    b_value: int | None = None,
) -> Dataset:
    """One complete image (with file meta) from its series header, its slice and its stored pixels."""
    # A new dataset of copied elements: assigning to a shared element would change every image of the series.
    ds = Dataset({tag: copy.copy(element) for tag, element in header.items()})
    fields = _fields(series, b_value or 0)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.ImageType = [value.format(**fields) for value in series.naming.image_type]
    ds.InstanceCreationDate = ds.ContentDate
    ds.InstanceCreationTime = time_of_day(content_s)
    ds.SOPInstanceUID = sop_uid
    ds.AcquisitionTime = time_of_day(acquisition_s)
    ds.ContentTime = time_of_day(content_s)
    ds.SequenceName = series.naming.sequence_name.format(**fields)
    ds.SliceThickness = _ds(stack.thickness_mm, 4)
    ds.SpacingBetweenSlices = _ds(stack.spacing_mm, 4)
    if b_value is not None:
        ds.DiffusionBValue = float(b_value)
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [_ds(v, 5) for v in stack.positions[slice_index]]
    ds.ImageOrientationPatient = [_ds(v, 8) for v in (*stack.row_direction, *stack.column_direction)]
    ds.SliceLocation = _ds(stack.slice_locations()[slice_index], 5)
    ds.Rows, ds.Columns = stack.rows, stack.columns
    ds.PixelSpacing = [_ds(v, 6) for v in stack.pixel_spacing]
    ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds
