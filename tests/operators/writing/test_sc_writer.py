"""The synthetic-series writer: a labelled, traceable DICOM series on the reference grid, checked by dciodvfy.

The simulated study of the session (`simulated_datasets`: T1 sagittal 3D, T2
axial oblique 2D, FLAIR) is the source; a T1ce is synthesized on the T2 grid.
Small headers built in code cover the faults and the UID rules.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import MRImageStorage, RLELossless, SecondaryCaptureImageStorage

from operators.volume.dicom_volume import series_volume
from operators.writing.burned_label import MIN_TEXT_HEIGHT, burn_label, label_box
from operators.writing.sc_reference import reference_grid
from operators.writing.sc_writer import MAX_STORED_VALUE, WriterOptions, write_synthetic_series
from product.names import MANUFACTURER, MODEL_NAME, SERIES_DESCRIPTION_PREFIX
from tests.operators.conftest import new_uid
from tests.operators.writing.sc_writer_inputs import (
    DEVICE_UID,
    series_uids,
    small_reference,
    small_volume,
    write_t1ce,
)

PATIENT_STUDY = (
    "StudyInstanceUID",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "StudyDescription",
    "PatientAge",
)


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def t2(simulated_datasets) -> list[pydicom.Dataset]:
    """The reference: T2 axial oblique, 2D, instances in file order."""
    return simulated_datasets["t2"]


@pytest.fixture(scope="module")
def sources(simulated_datasets) -> dict[str, list[pydicom.Dataset]]:
    return {c: simulated_datasets[c] for c in ("t1", "t2", "flair")}


@pytest.fixture(scope="module")
def volume(t2) -> np.ndarray:
    """The T2 pixels scaled to [0, 1], (columns, rows, slices) along the normal: a realistic 'synthetic' volume."""
    grid = reference_grid(t2)
    stack = np.stack([ds.pixel_array.T for ds in grid.datasets], axis=-1).astype(np.float32)
    return stack / stack.max()


@pytest.fixture(scope="module")
def written_sc(tmp_path_factory, volume, t2, sources) -> list[pydicom.Dataset]:
    """Secondary Capture, label burned, uid_seed "seed-a"; the reference passed in reverse order."""
    paths = write_t1ce(volume, t2[::-1], tmp_path_factory.mktemp("sc"), sources, uid_seed="seed-a")
    return [pydicom.dcmread(p) for p in paths]


@pytest.fixture(scope="module")
def written_mr(tmp_path_factory, volume, t2, sources) -> list[pydicom.Dataset]:
    """Derived MR Image Storage in RLE Lossless, no label."""
    out = tmp_path_factory.mktemp("mr")
    paths = write_t1ce(volume, t2, out, sources, sop_class="mr", transfer_syntax_uid=RLELossless, burn_label=False)
    return [pydicom.dcmread(p) for p in paths]


def _quantised(volume: np.ndarray, k: int) -> np.ndarray:
    return np.rint(volume[:, :, k].T * MAX_STORED_VALUE).astype(np.uint16)


# --- pixels and the burned label -------------------------------------------------------------------------------------


def test_round_trip_pixels_match_outside_the_label_and_differ_inside(written_sc, volume):
    assert len(written_sc) == volume.shape[2]
    box = label_box(volume.shape[1], volume.shape[0])
    for k, ds in enumerate(written_sc):
        pixels, expected = ds.pixel_array, _quantised(volume, k)
        outside = np.ones(pixels.shape, dtype=bool)
        outside[box.slices] = False
        assert np.array_equal(pixels[outside], expected[outside]), f"instance {k + 1}"
        assert (
            np.abs(pixels[outside] / MAX_STORED_VALUE - volume[:, :, k].T[outside]).max()
            <= 0.5 / MAX_STORED_VALUE + 1e-6
        )
        assert not np.array_equal(pixels[box.slices], expected[box.slices]), f"no label in instance {k + 1}"


def test_burned_label_pixels_are_in_the_corner(written_sc, volume):
    box = label_box(volume.shape[1], volume.shape[0])
    assert box.top < volume.shape[1] * 0.1 and box.left < volume.shape[0] * 0.1  # top-left corner
    for ds in written_sc:
        corner = ds.pixel_array[box.slices]
        assert corner.max() == MAX_STORED_VALUE
        assert corner.min() == 0  # the dark outline
        assert np.count_nonzero(corner == MAX_STORED_VALUE) > 0.1 * corner.size


def test_without_label_every_pixel_is_the_input(written_mr, volume):
    for k, ds in enumerate(written_mr):
        assert np.array_equal(ds.pixel_array, _quantised(volume, k)), f"instance {k + 1}"
        assert ds.BurnedInAnnotation == "NO"


@pytest.mark.parametrize("background", [0.0, 1.0])
def test_label_reads_on_dark_and_bright_background(background):
    image = np.full((256, 256), round(background * MAX_STORED_VALUE), dtype=np.uint16)
    box = burn_label(image, MAX_STORED_VALUE)
    region = image[box.slices]
    assert np.count_nonzero(region == MAX_STORED_VALUE) > 50 and np.count_nonzero(region == 0) > 50
    outside = np.ones(image.shape, dtype=bool)
    outside[box.slices] = False
    assert np.all(image[outside] == round(background * MAX_STORED_VALUE))


@pytest.mark.parametrize(("rows", "columns"), [(256, 256), (512, 512), (384, 320), (240, 60)])
def test_label_height_is_about_five_percent_and_fits(rows, columns):
    image = np.zeros((rows, columns), dtype=np.uint16)
    burn_label(image, MAX_STORED_VALUE)
    inked = np.flatnonzero((image == MAX_STORED_VALUE).any(axis=1))
    height = inked[-1] - inked[0] + 1
    if columns >= 200:
        assert 0.04 * rows <= height <= 0.06 * rows
    inked_columns = np.flatnonzero((image == MAX_STORED_VALUE).any(axis=0))
    width = inked_columns[-1] - inked_columns[0] + 1
    assert width <= 0.8 * columns
    if height < 0.04 * rows:  # shrunk to fit the width: as large as fits, never below the legible minimum needlessly
        assert width >= 0.6 * columns or height >= MIN_TEXT_HEIGHT


# --- study, series and instance attributes ---------------------------------------------------------------------------


def test_patient_and_study_attributes_are_the_source_study(written_sc, t2):
    for ds in written_sc:
        for keyword in PATIENT_STUDY:
            assert keyword in t2[0] and ds[keyword].value == t2[0][keyword].value, keyword


def test_series_and_instance_uids_are_new(written_sc, sources):
    source_series = {str(ds.SeriesInstanceUID) for datasets in sources.values() for ds in datasets}
    source_instances = {str(ds.SOPInstanceUID) for datasets in sources.values() for ds in datasets}
    assert len({ds.SeriesInstanceUID for ds in written_sc}) == 1
    assert written_sc[0].SeriesInstanceUID not in source_series
    instances = [str(ds.SOPInstanceUID) for ds in written_sc]
    assert len(set(instances)) == len(instances) and not set(instances) & source_instances
    assert all(uid.startswith("2.25.") and len(uid) <= 64 for uid in [*instances, written_sc[0].SeriesInstanceUID])
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in written_sc)


def test_uids_are_deterministic_for_a_seed_and_differ_for_another(tmp_path):
    reference = small_reference()
    volume = small_volume(reference)
    sources = {"t2": reference}
    first = series_uids(write_t1ce(volume, reference, tmp_path / "a", sources, uid_seed="seed-a"))
    again = series_uids(write_t1ce(volume, list(reversed(reference)), tmp_path / "b", sources, uid_seed="seed-a"))
    other = series_uids(write_t1ce(volume, reference, tmp_path / "c", sources, uid_seed="seed-b"))
    random_1 = series_uids(write_t1ce(volume, reference, tmp_path / "d", sources))
    random_2 = series_uids(write_t1ce(volume, reference, tmp_path / "e", sources))
    assert first == again
    assert not {u for pair in first for u in pair} & {u for pair in other for u in pair}
    assert not {u for pair in random_1 for u in pair} & {u for pair in random_2 for u in pair}


def test_changed_inputs_or_model_give_newseries_uids(tmp_path):
    reference = small_reference()
    volume = small_volume(reference)
    base = series_uids(write_t1ce(volume, reference, tmp_path / "a", {"t2": reference}, uid_seed="s"))[0][0]
    more_sources = {"t2": reference, "t1": small_reference(SeriesInstanceUID=new_uid())}
    assert series_uids(write_t1ce(volume, reference, tmp_path / "b", more_sources, uid_seed="s"))[0][0] != base
    newer = write_synthetic_series(
        volume,
        reference,
        "t1ce",
        tmp_path / "c",
        WriterOptions(uid_seed="s"),
        series_number=901,
        source_series={"t2": reference},
        model_name="MSG-LDM",
        model_version="0.2.0",
    )
    assert series_uids(newer)[0][0] != base


def test_labelled_synthetic_and_derived(written_sc):
    for ds in written_sc:
        assert ds.SOPClassUID == SecondaryCaptureImageStorage
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]
        assert ds.SeriesDescription == f"{SERIES_DESCRIPTION_PREFIX} T1ce (MSG-LDM)"
        assert ds.SeriesNumber == 901
        assert ds.BurnedInAnnotation == "YES"
        assert ds.ConversionType == "WSD"
        assert ds.Modality == "MR" and ds.BodyPartExamined == "BRAIN"
        assert ds.Manufacturer == MANUFACTURER and ds.ManufacturerModelName == MODEL_NAME
        assert "MSG-LDM 0.1.0" in ds["SoftwareVersions"].value  # one string, or several values
        assert ds.ImageComments == "SYNTHETIC IMAGE - NOT ACQUIRED - NOT FOR DIAGNOSIS"
        assert ds.DerivationDescription == (
            "Synthesized T1ce from T1, T2, FLAIR with MSG-LDM 0.1.0; not acquired; not for diagnosis"
        )
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert 0 < float(ds.WindowCenter) < MAX_STORED_VALUE and 16 <= float(ds.WindowWidth) <= MAX_STORED_VALUE + 1
    assert [int(ds.InstanceNumber) for ds in written_sc] == list(range(1, len(written_sc) + 1))


def test_contributing_equipment_names_the_model_with_its_device_uid(written_sc, t2):
    for ds in written_sc:
        items = {item.PurposeOfReferenceCodeSequence[0].CodeValue: item for item in ds.ContributingEquipmentSequence}
        model = items["109100"]  # (109100, DCM, "Synthesizing Equipment"), PS3.16 CID 7005
        assert model.PurposeOfReferenceCodeSequence[0].CodingSchemeDesignator == "DCM"
        assert (model.Manufacturer, model.ManufacturerModelName, model.SoftwareVersions) == (
            MANUFACTURER,
            "MSG-LDM",
            "0.1.0",
        )
        assert model.DeviceUID == DEVICE_UID
        assert items["109101"].Manufacturer == t2[0].Manufacturer  # the scanner that acquired the sources


def test_default_device_uid_changes_with_the_model_version(tmp_path):
    reference = small_reference()
    volume = small_volume(reference)
    device = {}
    for version in ("0.1.0", "0.2.0"):
        path = write_synthetic_series(
            volume,
            reference,
            "flair",
            tmp_path / version,
            WriterOptions(),
            series_number=1,
            source_series={"t2": reference},
            model_name="MSG-LDM",
            model_version=version,
        )[0]
        items = pydicom.dcmread(path).ContributingEquipmentSequence
        device[version] = next(i.DeviceUID for i in items if "DeviceUID" in i)
    assert device["0.1.0"] != device["0.2.0"] and all(uid.startswith("2.25.") for uid in device.values())


def test_references_reach_the_reference_slice_and_every_source_instance(written_sc, t2, sources):
    grid = reference_grid(t2)
    expected = {str(d[0].SeriesInstanceUID): {str(x.SOPInstanceUID) for x in d} for d in sources.values()}
    for k, ds in enumerate(written_sc):
        (source,) = ds.SourceImageSequence
        assert source.ReferencedSOPInstanceUID == grid.datasets[k].SOPInstanceUID
        assert source.ReferencedSOPClassUID == grid.datasets[k].SOPClassUID
        assert source.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        referenced = {
            str(item.SeriesInstanceUID): {str(i.ReferencedSOPInstanceUID) for i in item.ReferencedInstanceSequence}
            for item in ds.ReferencedSeriesSequence
        }
        assert referenced == expected


# --- geometry -------------------------------------------------------------------------------------------------------


def _along_normal(ds: pydicom.Dataset) -> float:
    orientation = np.array(ds.ImageOrientationPatient, dtype=float)
    return float(np.cross(orientation[:3], orientation[3:]) @ np.array(ds.ImagePositionPatient, dtype=float))


def test_geometry_is_the_reference_slice_for_slice(written_sc, t2):
    by_position = sorted(t2, key=_along_normal)
    positions = [_along_normal(ds) for ds in written_sc]
    assert positions == sorted(positions)
    for ds, ref in zip(written_sc, by_position, strict=True):
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
            assert list(np.atleast_1d(ds[keyword].value)) == list(np.atleast_1d(ref[keyword].value)), keyword
        assert ds.FrameOfReferenceUID == ref.FrameOfReferenceUID
        assert (ds.Rows, ds.Columns) == (ref.Rows, ref.Columns)
        assert float(ds.SpacingBetweenSlices) == pytest.approx(float(ref.SpacingBetweenSlices), abs=1e-3)


def test_slice_order_is_the_volume_assembly_order(t2):
    """Contract with `operators.volume.dicom_volume`: slice k of a volume is the same instance for both."""
    shuffled = list(t2)
    random.Random(4).shuffle(shuffled)
    ours = [str(ds.SOPInstanceUID) for ds in reference_grid(shuffled).datasets]
    assert ours == [str(uid) for uid in series_volume(shuffled).sop_instance_uids]


def test_slices_are_sorted_along_the_normal_whatever_the_input_order(tmp_path):
    reference = small_reference(n_slices=6)
    shuffled = [reference[i] for i in (3, 0, 5, 1, 4, 2)]
    volume = np.zeros((48, 40, 6), dtype=np.float32)
    volume[:] = np.arange(6) / 10  # slice k holds k / 10
    paths = write_t1ce(volume, shuffled, tmp_path, {"t2": reference}, burn_label=False)
    for k, ds in enumerate(map(pydicom.dcmread, paths)):
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == reference[k].SOPInstanceUID
        assert list(ds.ImagePositionPatient) == list(reference[k].ImagePositionPatient)
        assert np.all(ds.pixel_array == round(k / 10 * MAX_STORED_VALUE))


# --- the real validator ---------------------------------------------------------------------------------------------


def _dciodvfy(paths) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        found[path.name] = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    return found


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
@pytest.mark.parametrize(("written", "iod"), [("written_sc", "SCImage"), ("written_mr", "MRImage")])
def test_dciodvfy_finds_no_error_in_any_file(written, iod, request):
    datasets = request.getfixturevalue(written)
    report = _dciodvfy([Path(ds.filename) for ds in datasets])
    assert len(report) == len(datasets)
    for name, lines in report.items():
        assert lines[0] == iod, (name, lines)
        assert not [line for line in lines if "Error" in line], (name, lines)


def test_mr_sop_class_is_a_derived_mr_image(written_mr, t2):
    for ds in written_mr:
        assert ds.SOPClassUID == MRImageStorage == ds.file_meta.MediaStorageSOPClassUID
        assert ds.file_meta.TransferSyntaxUID == RLELossless
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]
        assert (ds.ScanningSequence, ds.SequenceVariant) == ("RM", "NONE")
        for keyword in ("RepetitionTime", "EchoTime", "EchoTrainLength", "ScanOptions", "MRAcquisitionType"):
            assert keyword in ds and ds[keyword].value in (None, ""), keyword
        assert "ConversionType" not in ds and "DateOfSecondaryCapture" not in ds
        assert ds.PatientPosition == t2[0].PatientPosition
        assert ds.SeriesDescription.startswith("SYNTHETIC ") and ds.ImageComments.startswith("SYNTHETIC IMAGE")
