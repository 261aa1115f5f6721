"""Shared builders for the operator tests: small pydicom headers and SeriesInfo summaries made in code."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import EnhancedMRImageStorage, MRImageStorage

from operators.selection.series_info import SeriesInfo

STUDY_UID = "1.2.826.0.1.3680043.10.1.1"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)

_uids = itertools.count(1)


def new_uid() -> str:
    """A fresh UID for a test series or instance."""
    return f"1.2.826.0.1.3680043.10.2.{next(_uids)}"


def _normal(orientation: tuple[float, ...]) -> tuple[float, float, float]:
    r, c = orientation[:3], orientation[3:]
    return (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])


def build_mr_datasets(
    n_slices: int = 20,
    spacing: float = 5.0,
    orientation: tuple[float, ...] = AXIAL,
    series_uid: str | None = None,
    **tags: object,
) -> list[Dataset]:
    """Headers of a classic MR Image Storage series: one slice an instance, stacked along the normal.

    Args:
        n_slices: number of instances.
        spacing: distance between slice centres, in mm.
        orientation: ImageOrientationPatient of every slice.
        series_uid: SeriesInstanceUID (a new one by default).
        **tags: any DICOM keyword and value, set on every instance (None deletes the attribute).
    """
    series_uid = series_uid or new_uid()
    normal = _normal(orientation)
    datasets = []
    for index in range(n_slices):
        ds = Dataset()
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = new_uid()
        ds.StudyInstanceUID = STUDY_UID
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "MR"
        ds.Manufacturer = "SIEMENS"
        ds.SeriesDescription = "t2_tse_tra"
        ds.SeriesNumber = 4
        ds.InstanceNumber = index + 1
        ds.SeriesDate = "20260105"
        ds.SeriesTime = "101500.000000"
        ds.AcquisitionTime = f"1016{index:02d}.500000"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.MRAcquisitionType = "2D"
        ds.ImagePositionPatient = [-120.0 + index * spacing * n for n in normal]
        ds.ImageOrientationPatient = list(orientation)
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = spacing
        ds.Rows = ds.Columns = 256
        for keyword, value in tags.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        datasets.append(ds)
    return datasets


def _item(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def build_enhanced_dataset(
    n_frames: int = 40,
    spacing: float = 2.0,
    b_values: tuple[float, ...] | None = None,
    inversion_time: float | None = None,
) -> Dataset:
    """Header of an Enhanced MR Image Storage instance with shared and per-frame functional groups.

    Timing (TR 5000, TE 390) and geometry are in the shared groups, positions
    (and b-values, when given) per frame; an inversion time sets the MR
    Modifier macro's Inversion Recovery flag.
    """
    ds = Dataset()
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = new_uid()
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = new_uid()
    ds.Modality = "MR"
    ds.SeriesDescription = "3D FLAIR"
    ds.SeriesNumber = 7
    ds.ImageType = ["ORIGINAL", "PRIMARY", "FLAIR", "NONE"]
    ds.AcquisitionContrast = "FLAIR"
    ds.PulseSequenceName = "SPCIR"
    ds.EchoPulseSequence = "SPIN"
    ds.MRAcquisitionType = "3D"
    ds.NumberOfFrames = n_frames
    ds.AcquisitionDateTime = "20260105102000.000000"
    modifier = _item(InversionRecovery="YES" if inversion_time else "NO")
    if inversion_time:
        modifier.InversionTimes = [inversion_time]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PlaneOrientationSequence=[_item(ImageOrientationPatient=list(SAGITTAL))],
            PixelMeasuresSequence=[_item(PixelSpacing=[1.0, 1.0], SliceThickness=spacing)],
            MRTimingAndRelatedParametersSequence=[_item(RepetitionTime=5000.0, FlipAngle=120.0)],
            MREchoSequence=[_item(EffectiveEchoTime=390.0)],
            MRModifierSequence=[modifier],
        )
    ]
    frames = []
    for index in range(n_frames):
        frame = _item(PlanePositionSequence=[_item(ImagePositionPatient=[-80.0 + index * spacing, -120.0, 100.0])])
        if b_values:
            frame.MRDiffusionSequence = [_item(DiffusionBValue=b_values[index % len(b_values)])]
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = frames
    return ds


def build_info(**fields: object) -> SeriesInfo:
    """A SeriesInfo of a valid axial 2D brain series (20 slices 5 mm apart), with `fields` replaced."""
    base = SeriesInfo(
        series_instance_uid=new_uid(),
        study_instance_uid=STUDY_UID,
        modality="MR",
        sop_class_uid=MRImageStorage,
        series_description="t2_tse_tra",
        mr_acquisition_type="2D",
        image_type=("ORIGINAL", "PRIMARY", "M", "ND"),
        series_number=4,
        manufacturer="SIEMENS",
        number_of_instances=20,
        number_of_frames=20,
        image_orientation_patient=AXIAL,
        pixel_spacing=(0.5, 0.5),
        slice_thickness=5.0,
        slice_positions=tuple(-50.0 + 5.0 * i for i in range(20)),
        body_part_examined="HEAD",
    )
    return dataclasses.replace(base, **fields)


@pytest.fixture
def mr_datasets() -> Callable[..., list[Dataset]]:
    """The `build_mr_datasets` builder."""
    return build_mr_datasets


@pytest.fixture
def enhanced_dataset() -> Callable[..., Dataset]:
    """The `build_enhanced_dataset` builder."""
    return build_enhanced_dataset


@pytest.fixture
def series_info() -> Callable[..., SeriesInfo]:
    """The `build_info` builder."""
    return build_info


@pytest.fixture(scope="session")
def philips_mprage_path(tmp_path_factory) -> Path:
    """nibabel's Philips Enhanced MR MPRAGE test header (176 frames, zero pixels), gunzipped once per session."""
    nibabel = pytest.importorskip("nibabel")
    source = Path(nibabel.__file__).parent / "nicom" / "tests" / "data" / "philips_mprage.dcm.gz"
    path = tmp_path_factory.mktemp("nibabel") / "philips_mprage.dcm"
    with gzip.open(source) as packed, path.open("wb") as target:
        shutil.copyfileobj(packed, target)
    return path


# --- One simulated DICOM study per session (the volume assembly tests) ---------------------------------------------

SIMULATED_SEED = 3
SIMULATED_CONTRASTS = ("t1", "t2", "flair")


@pytest.fixture(scope="session")
def simulated_study(tmp_path_factory, simulated_subject):
    """The Siemens study written from `simulated_subject`: T1 (3D sagittal 1 mm), T2 (2D axial oblique), FLAIR."""
    from simulation.dicom_study import write_study

    out = tmp_path_factory.mktemp("simulated") / "study"
    return write_study(
        out,
        seed=SIMULATED_SEED,
        vendor="siemens",
        contrasts=list(SIMULATED_CONTRASTS),
        whole_head=True,
        subject=simulated_subject,
    )


@pytest.fixture(scope="session")
def simulated_datasets(simulated_study) -> dict[str, list[Dataset]]:
    """Every instance (with pixels) of each contrast series of `simulated_study`, in file order.

    Shared by the whole session: copy a dataset (`copy.deepcopy`) before changing it.
    """
    import pydicom

    return {
        contrast: [pydicom.dcmread(path) for path in sorted((simulated_study.out / record.folder).glob("*.dcm"))]
        for contrast in SIMULATED_CONTRASTS
        for record in [simulated_study.by_contrast(contrast)]
    }
