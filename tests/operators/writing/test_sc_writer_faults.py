"""The synthetic-series writer on bad input and on disk: clear refusals, whole series or none, quiet logs."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pydicom
import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.uid import ExplicitVRLittleEndian

from operators.errors import VolumeError
from operators.writing import sc_writer
from operators.writing.sc_reference import PATIENT_STUDY_KEYWORDS
from operators.writing.sc_writer import MAX_STORED_VALUE, WriterOptions, write_synthetic_series
from product.errors import ProductError
from tests.operators.conftest import new_uid
from tests.operators.writing.sc_writer_inputs import (
    MODEL,
    series_uids,
    small_reference,
    small_volume,
    write_t1ce,
)

# --- faults ---------------------------------------------------------------------------------------------------------


def test_wrong_volume_shape_names_both_shapes_and_the_series(tmp_path):
    reference = small_reference()
    with pytest.raises(VolumeError) as caught:
        write_t1ce(np.zeros((40, 48, 5), np.float32), reference, tmp_path, {"t2": reference})
    message = str(caught.value)
    assert "(40, 48, 5)" in message and "(48, 40, 5)" in message and reference[0].SeriesInstanceUID in message
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ProductError)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "keyword", ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "FrameOfReferenceUID", "Rows"]
)
def test_reference_without_geometry_names_the_tag(tmp_path, keyword):
    reference = small_reference()
    volume = small_volume(reference)
    broken = copy.deepcopy(reference)
    delattr(broken[2], keyword)
    tag = tag_for_keyword(keyword)
    with pytest.raises(VolumeError, match=rf"{keyword} \({tag >> 16:04X},{tag & 0xFFFF:04X}\)"):
        write_t1ce(volume, broken, tmp_path, {"t2": reference})


def test_values_outside_zero_one_are_clipped_with_a_warning(tmp_path, caplog):
    reference = small_reference(n_slices=2)
    volume = small_volume(reference)
    volume[0, 0, 0], volume[1, 0, 0] = -0.5, 1.7
    with caplog.at_level(logging.WARNING, logger="operators.writing.sc_writer"):
        paths = write_t1ce(volume, reference, tmp_path, {"t2": reference}, burn_label=False)
    assert any("2 values outside [0, 1]" in r.getMessage() for r in caplog.records)
    pixels = pydicom.dcmread(paths[0]).pixel_array
    assert (pixels[0, 0], pixels[0, 1]) == (0, MAX_STORED_VALUE)


def test_nan_values_are_refused(tmp_path):
    reference = small_reference()
    volume = small_volume(reference)
    volume[3, 3, 3] = np.nan
    with pytest.raises(VolumeError, match="1 NaN"):
        write_t1ce(volume, reference, tmp_path, {"t2": reference})


def test_sources_of_another_study_are_refused(tmp_path):
    reference = small_reference()
    other = small_reference(SeriesInstanceUID=new_uid(), StudyInstanceUID="1.2.826.0.1.3680043.10.1.999")
    with pytest.raises(ValueError, match="study"):
        write_t1ce(small_volume(reference), reference, tmp_path, {"t2": reference, "t1": other})


@pytest.mark.parametrize(
    "options",
    [{"sop_class": "ct"}, {"transfer_syntax_uid": "1.2.840.10008.1.2.4.50"}, {"label_corner": "middle"}],
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        WriterOptions(**options)


@pytest.mark.parametrize("series_number", [-1, 2**31, "901", True])
def test_bad_series_number_is_refused(tmp_path, series_number):
    reference = small_reference()
    with pytest.raises(ValueError, match="series_number"):
        write_t1ce(small_volume(reference), reference, tmp_path, {"t2": reference}, series_number=series_number)


def test_synthetic_data_attribute_on_request_only(tmp_path):
    reference = small_reference(n_slices=2)
    volume = small_volume(reference)
    plain = pydicom.dcmread(write_t1ce(volume, reference, tmp_path / "a", {"t2": reference})[0])
    marked = pydicom.dcmread(
        write_t1ce(volume, reference, tmp_path / "b", {"t2": reference}, synthetic_data_attribute=True)[0]
    )
    assert "SyntheticData" not in plain
    assert marked.SyntheticData == "YES"  # (0008,001C), SOP Common Module


def test_unknown_contrast_is_refused(tmp_path):
    reference = small_reference()
    with pytest.raises(ValueError, match="stir"):
        write_synthetic_series(
            small_volume(reference),
            reference,
            "stir",
            tmp_path,
            WriterOptions(),
            series_number=1,
            source_series={},
            **MODEL,
        )


# --- files on disk --------------------------------------------------------------------------------------------------


def test_files_go_into_one_series_folder_and_a_rewrite_replaces_it(tmp_path):
    reference = small_reference()
    volume = small_volume(reference)
    first = write_t1ce(volume, reference, tmp_path, {"t2": reference}, uid_seed="a")
    assert [p.name for p in first] == [f"IM_{n:04d}.dcm" for n in range(1, 6)]
    assert {p.parent for p in first} == {tmp_path / "901_T1CE"}
    first_series = series_uids(first)[0][0]
    second = write_t1ce(volume, reference, tmp_path, {"t2": reference}, uid_seed="b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["901_T1CE"]
    assert sorted((tmp_path / "901_T1CE").iterdir()) == second
    assert {series for series, _ in series_uids(second)} == {series_uids(second)[0][0]} != {first_series}


def test_a_failure_midway_leaves_the_previous_series_and_no_partial_one(tmp_path, monkeypatch):
    reference = small_reference()
    volume = small_volume(reference)
    before = write_t1ce(volume, reference, tmp_path, {"t2": reference}, uid_seed="a")
    series_before = pydicom.dcmread(before[0]).SeriesInstanceUID
    real, calls = sc_writer._instance, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(sc_writer, "_instance", failing)
    with pytest.raises(OSError, match="disk full"):
        write_t1ce(volume, reference, tmp_path, {"t2": reference}, uid_seed="b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["901_T1CE"]  # no hidden .partial folder left
    assert [pydicom.dcmread(p).SeriesInstanceUID for p in sorted((tmp_path / "901_T1CE").iterdir())] == [
        series_before
    ] * 5


def test_one_info_line_per_series_without_patient_names(tmp_path, caplog):
    reference = small_reference()
    with caplog.at_level(logging.INFO):
        paths = write_t1ce(small_volume(reference), reference, tmp_path, {"t2": reference})
    ours = [r for r in caplog.records if r.name.startswith("operators.") and r.levelno == logging.INFO]
    assert len(ours) == 1
    series_uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
    assert series_uid in ours[0].getMessage() and "5 instances" in ours[0].getMessage()
    assert "TEST" not in ours[0].getMessage()


def test_patient_study_keywords_are_dicom_keywords():
    assert all(tag_for_keyword(k) is not None for k in PATIENT_STUDY_KEYWORDS)


def test_explicit_vr_little_endian_is_the_default():
    assert WriterOptions().transfer_syntax_uid == ExplicitVRLittleEndian
