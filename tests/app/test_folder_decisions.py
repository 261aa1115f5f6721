"""Folder mode without synthesis: dry runs, studies with nothing to do, and input the graph must refuse clearly.

Every case runs the real graph (Holoscan, the SDK loader subclass, every
operator) on real files and reads the report.json it writes.
"""

from __future__ import annotations

import copy
import json

import pydicom
import pytest
from pydicom.data import get_testdata_file

from app.__main__ import parse_arguments
from tests.app.running import run_app


def _dicom_files(folder):
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix == ".dcm"]


def test_dry_run_reports_every_series_and_the_scenario_without_a_model(study_of, tmp_path):
    study = study_of("t1", "t1ce", "t2", extra_series=True)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run", "-m", str(tmp_path / "none"))
    assert code == 0
    assert report["outcome"] == "dry-run"
    assert report["scenario"] == "t1+t1ce+t2 -> flair"
    assert report["contrasts_missing"] == ["flair"]
    assert len(report["series"]) == 6
    dropped = sorted(s["reason"] for s in report["series"] if s["decision"] == "dropped")
    assert len(dropped) == 3
    assert sum("localizer" in r for r in dropped) == 1 and sum("diffusion" in r for r in dropped) == 2
    used = {s["contrast"]: s for s in report["series"] if s["decision"].startswith("used as")}
    assert set(used) == {"t1", "t1ce", "t2"}
    assert all(s["confidence"] > 0.5 and s["evidence"] for s in used.values())
    assert report["model"] == {}, "a dry run does not load the model"
    assert not _dicom_files(tmp_path / "out")
    assert not (tmp_path / "out" / "metadata.json").exists(), "metadata.json only when asked for"


def test_a_study_with_every_contrast_is_skipped_before_the_model_loads(study_of, tmp_path):
    study = study_of("t1", "t1ce", "t2", "flair")
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "-m", str(tmp_path), "--task-metadata")
    assert code == 0
    assert report["outcome"] == "skipped"
    assert "nothing to synthesize" in report["reason"]
    assert report["model"] == {}
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata == {
        "outcome": "skipped",
        "exit_code": "0",
        "synthetic_series": "0",
        "synthesized": "none",
        "model_version": "none",
    }, "the Workflow Manager's condition reads 'none': no export task for this study"


def test_too_few_contrasts_are_skipped_and_the_threshold_is_an_option(study_of, tmp_path):
    study = study_of("t2")
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "a"), "--dry-run")
    assert code == 0 and report["outcome"] == "skipped"
    assert "at least 2" in report["reason"] and "min_present" in report["reason"]
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "b"), "--dry-run", "--min-present", "1")
    assert code == 0 and report["outcome"] == "dry-run"
    assert report["scenario"] == "t2 -> t1+t1ce+flair"


def test_an_empty_folder_is_an_input_error(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    monkeypatch.setenv("MRI_SYNTH_TASK_METADATA", "1")
    code, report = run_app("-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 3
    assert report["outcome"] == "input-error"
    assert "no DICOM study" in report["reason"]
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata["outcome"] == "input-error" and metadata["exit_code"] == "3" and metadata["synthesized"] == "none"


def test_unreadable_files_are_listed_and_the_rest_is_used(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    (study / "notes.txt").write_text("not DICOM")
    victim = sorted((study).rglob("*.dcm"))[0]
    truncated = study / "truncated.dcm"
    truncated.write_bytes(victim.read_bytes()[:400])
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["outcome"] == "dry-run"
    unreadable = {u["file"]: u["reason"] for u in report["unreadable_files"]}
    assert "not a DICOM file" in unreadable["notes.txt"]
    assert "truncated.dcm" in unreadable
    assert report["scenario"] == "t1+t2 -> t1ce+flair"


def test_two_copies_of_an_instance_are_reported_saying_which_was_used(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    files = _series_files(study, "t2")
    same, changed = files[3], files[5]
    resent = study / "zz-resent"  # walked after the series folders
    resent.mkdir()
    (resent / "same.dcm").write_bytes(same.read_bytes())
    ds = pydicom.dcmread(changed)
    pixels = bytearray(ds.PixelData)
    pixels[: len(pixels) // 2] = bytes(len(pixels) // 2)
    ds.PixelData = bytes(pixels)
    ds.save_as(resent / "changed.dcm")
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["scenario"] == "t1+t2 -> t1ce+flair"
    duplicates = {d["sop_instance_uid"]: d for d in report["duplicate_instances"]}
    assert len(duplicates) == 2
    copy = duplicates[pydicom.dcmread(same).SOPInstanceUID]
    assert copy["same_pixels"] and copy["ignored"] == "zz-resent/same.dcm"
    differing = duplicates[ds.SOPInstanceUID]
    assert not differing["same_pixels"] and differing["ignored"] == "zz-resent/changed.dcm"
    assert differing["used"] == str(changed.relative_to(study))
    (note,) = [n for n in report["notes"] if "DIFFERENT pixel data" in n]
    assert ds.SOPInstanceUID in note and "used " + differing["used"] in note and "first in file order" in note
    t2 = next(s for s in report["series"] if s.get("contrast") == "t2")
    assert t2["instances"] == len(files), "each SOP Instance counts once"


def test_a_ct_study_is_refused_with_the_reason(tmp_path):
    folder = tmp_path / "ct"
    folder.mkdir()
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct.save_as(folder / "ct.dcm")
    code, report = run_app("-i", str(folder), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 3 and report["outcome"] == "input-error"
    assert "no candidate brain MR" in report["reason"]
    (series,) = report["series"]
    assert series["decision"] == "dropped" and "CT" in series["reason"]


def test_mixed_studies_keep_the_one_with_most_candidates(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t1ce", "t2"))
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct.save_as(study / "ct.dcm")
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["scenario"] == "t1+t1ce+t2 -> flair"
    ct_entry = next(s for s in report["series"] if s["modality"] == "CT")
    assert ct_entry["decision"] == "dropped"
    assert report["study_instance_uid"] != str(ct.StudyInstanceUID)


def test_series_in_different_frames_of_reference_are_refused_naming_them(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    t2_files = [p for p in study.rglob("*.dcm") if "t2" in p.parent.name.lower()]
    assert t2_files
    for path in t2_files:
        ds = pydicom.dcmread(path)
        ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.9.9"
        ds.save_as(path)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "-m", str(tmp_path))
    assert code == 3 and report["outcome"] == "input-error"
    assert "Frame" in report["reason"] or "frame" in report["reason"]
    assert not _dicom_files(tmp_path / "out")


def test_a_model_folder_that_cannot_load_is_a_model_error(study_of, tmp_path):
    empty_model = tmp_path / "model"
    empty_model.mkdir()
    code, report = run_app("-i", str(study_of("t1", "t2")), "-o", str(tmp_path / "out"), "-m", str(empty_model))
    assert code == 4 and report["outcome"] == "model-error"
    assert str(empty_model) in report["reason"]
    assert not _dicom_files(tmp_path / "out")


def test_folders_come_from_the_flags_then_the_older_map_variables_then_the_holoscan_ones(tmp_path, monkeypatch):
    """A Workflow Manager task may pass MONAI_INPUTPATH etc. into an image that sets HOLOSCAN_* as its defaults."""
    for name in ("holoscan-in", "monai-in", "flag-in"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("HOLOSCAN_INPUT_PATH", str(tmp_path / "holoscan-in"))
    monkeypatch.setenv("HOLOSCAN_OUTPUT_PATH", str(tmp_path / "holoscan-out"))
    assert parse_arguments(["--dry-run"]).input == tmp_path / "holoscan-in"
    monkeypatch.setenv("MONAI_INPUTPATH", str(tmp_path / "monai-in"))
    monkeypatch.setenv("MONAI_OUTPUTPATH", str(tmp_path / "monai-out"))
    monkeypatch.setenv("MONAI_MODELPATH", str(tmp_path / "monai-model"))
    args = parse_arguments(["--dry-run"])
    assert (args.input, args.output) == (tmp_path / "monai-in", tmp_path / "monai-out")
    assert args.options.model is None and args.options.model_folder == tmp_path / "monai-model"
    args = parse_arguments(["--dry-run", "-i", str(tmp_path / "flag-in"), "-o", str(tmp_path / "flag-out")])
    assert (args.input, args.output) == (tmp_path / "flag-in", tmp_path / "flag-out")


@pytest.mark.parametrize("argv", [["--min-present", "4"], ["--sampler-steps", "0"], ["--sop-class", "ct"]])
def test_bad_options_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as raised:
        run_app("-i", str(tmp_path), "-o", str(tmp_path / "out"), "--dry-run", *argv)
    assert raised.value.code == 2


def _series_files(study, word):
    files = sorted(p for p in study.rglob("*.dcm") if word in p.parent.name.lower())
    assert files, f"no {word} series folder in {study}"
    return files


def test_a_single_slice_series_is_dropped_as_too_short(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    for path in _series_files(study, "t2")[1:]:
        path.unlink()
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run", "--min-present", "1")
    assert code == 0 and report["scenario"] == "t1 -> t1ce+flair", "an acquired T2 is not synthesized"
    (t2,) = [s for s in report["series"] if s["instances"] == 1]
    assert t2["decision"] == "dropped" and "slice" in t2["reason"]
    assert report["contrasts_acquired_unusable"] == {"t2": t2["series_instance_uid"]}


def test_a_series_without_geometry_is_dropped_naming_the_tag(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    for path in _series_files(study, "t2"):
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        ds.save_as(path)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run", "--min-present", "1")
    assert code == 0 and report["scenario"] == "t1 -> t1ce+flair"
    dropped = [s for s in report["series"] if s["decision"] == "dropped"]
    assert len(dropped) == 1 and "ImagePositionPatient" in dropped[0]["reason"]
    assert dropped[0]["contrast"] == "t2" and dropped[0]["evidence"], "the dropped series is identified from its tags"
    assert any(n.startswith("T2 acquired in") and "unusable" in n for n in report["notes"]), report["notes"]


def _damage(files, change):
    for path in files:
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(path)


def _drop_position_of_one_slice(files):
    _damage(files[len(files) // 2 : len(files) // 2 + 1], lambda ds: delattr(ds, "ImagePositionPatient"))


def _modality_ct(files):
    _damage(files, lambda ds: setattr(ds, "Modality", "CT"))


@pytest.mark.parametrize(
    "damage, reason",
    [(_drop_position_of_one_slice, "ImagePositionPatient"), (_modality_ct, "modality CT")],
    ids=["one-slice-without-position", "modality-ct"],
)
def test_an_acquired_flair_that_cannot_be_used_is_reported_not_synthesized(
    damage, reason, study_of, copy_study, tmp_path
):
    study = copy_study(study_of("t1", "t2", "flair"))
    damage(_series_files(study, "flair"))
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["outcome"] == "dry-run"
    assert report["scenario"] == "t1+t2 -> t1ce", "FLAIR was acquired: only T1ce is missing"
    assert report["contrasts_missing"] == ["t1ce"]
    (flair,) = [s for s in report["series"] if s["decision"] == "dropped"]
    assert reason in flair["reason"] and flair["contrast"] == "flair"
    assert report["contrasts_acquired_unusable"] == {"flair": flair["series_instance_uid"]}
    (note,) = [n for n in report["notes"] if "acquired in" in n]
    assert note.startswith(f"FLAIR acquired in {flair['description']} (series {flair['series_number']}) but unusable")
    assert reason in note and "synthesize_unusable" in note

    code, report = run_app("-i", str(study), "-o", str(tmp_path / "asked"), "--dry-run", "--synthesize-unusable")
    assert code == 0 and report["scenario"] == "t1+t2 -> t1ce+flair", "the option synthesizes it anyway"
    assert report["contrasts_acquired_unusable"] == {}
    assert any("synthesized as asked" in n for n in report["notes"])


def test_a_study_whose_only_missing_contrast_was_acquired_unusable_is_skipped(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t1ce", "t2", "flair"))
    _damage(_series_files(study, "t2"), lambda ds: delattr(ds, "PixelSpacing"))
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "-m", str(tmp_path))
    assert code == 0 and report["outcome"] == "skipped"
    assert "t2 acquired but unusable" in report["reason"]
    assert report["model"] == {}, "nothing to synthesize: the model is not loaded"


def test_uneven_slice_spacing_is_an_input_error_naming_the_series(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    files = _series_files(study, "t2")
    positions = sorted((float(pydicom.dcmread(p).ImagePositionPatient[2]), p) for p in files)
    for _, path in positions[len(positions) // 2 : len(positions) // 2 + 2]:
        path.unlink()
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "-m", str(tmp_path))
    assert code == 3 and report["outcome"] == "input-error"
    t2_uid = next(s["series_instance_uid"] for s in report["series"] if s.get("contrast") == "t2")
    assert t2_uid in report["reason"] and "evenly spaced" in report["reason"]
    assert not _dicom_files(tmp_path / "out")


def test_a_dual_echo_pd_t2_series_is_identified_as_t2(study_of, copy_study, tmp_path):
    from pydicom.uid import generate_uid

    study = copy_study(study_of("t1", "t2"))
    for path in _series_files(study, "t2"):
        late = pydicom.dcmread(path)
        late.SeriesDescription = late.ProtocolName = "AX PD+T2 TSE"
        early = copy.deepcopy(late)
        early.SOPInstanceUID, early.EchoTime = generate_uid(), 11.0
        early.file_meta.MediaStorageSOPInstanceUID = early.SOPInstanceUID
        late.save_as(path)
        early.save_as(path.with_name(f"early-{path.name}"))
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["scenario"] == "t1+t2 -> t1ce+flair", report["series"]
    t2 = next(s for s in report["series"] if s.get("contrast") == "t2")
    assert t2["decision"] == "used as t2" and any("PD/T2" in e for e in t2["evidence"])


def test_a_series_whose_pixels_are_all_zero_is_an_input_error_naming_it(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2"))
    _damage(_series_files(study, "t2"), lambda ds: setattr(ds, "PixelData", bytes(len(ds.PixelData))))
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "-m", str(tmp_path))
    assert code == 3 and report["outcome"] == "input-error", report["reason"]
    t2_uid = next(s["series_instance_uid"] for s in report["series"] if s.get("contrast") == "t2")
    assert t2_uid in report["reason"] and "holds no image" in report["reason"]
    assert not _dicom_files(tmp_path / "out")


@pytest.mark.parametrize("vendor", ["ge", "philips", "canon"])
def test_every_vendor_profile_is_identified(vendor, study_of, tmp_path):
    study = study_of("t1", "t1ce", "flair", vendor=vendor)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["scenario"] == "t1+t1ce+flair -> t2", report["series"]


STRIPPED = (
    "SeriesDescription",
    "ProtocolName",
    "SequenceName",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "ContrastBolusStartTime",
)


def _strip_contrast_tags(study) -> set[str]:
    """Remove every `STRIPPED` tag from the study's files, as an anonymizer does; returns the SeriesInstanceUIDs
    that declared a contrast agent before."""
    post_contrast = set()
    for path in study.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        if "ContrastBolusAgent" in ds:
            post_contrast.add(ds.SeriesInstanceUID)
        for keyword in STRIPPED:
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(path)
    return post_contrast


def test_with_every_contrast_tag_stripped_the_image_classifier_decides(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t2", "flair"))
    _strip_contrast_tags(study)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0, report["reason"]
    found = {s["contrast"]: s for s in report["series"] if s["decision"].startswith("used as")}
    assert {"t2", "flair"} <= set(found) and len(found) == 3, report["series"]
    assert all("image classifier" in s["evidence"][0] for s in found.values())
    assert all(0 < s["confidence"] < 0.61 for s in found.values()), "pixels count for less than tags"
    for contrast, series in found.items():
        if series["confidence"] < 0.6:
            (note,) = [n for n in report["notes"] if n.startswith(f"{contrast.upper()}: ") and "low confidence" in n]
            assert f"(series {series['series_number']})" in note and "image classifier" in note


def test_with_tags_stripped_the_more_enhanced_of_two_t1_weighted_series_is_the_t1ce(study_of, copy_study, tmp_path):
    study = copy_study(study_of("t1", "t1ce", "t2", "flair"))
    post_contrast = _strip_contrast_tags(study)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["outcome"] == "skipped", report["reason"]
    found = {s["contrast"]: s for s in report["series"] if s["decision"].startswith("used as")}
    assert set(found) == {"t1", "t1ce", "t2", "flair"}, report["series"]
    assert {found["t1ce"]["series_instance_uid"]} == post_contrast
    assert "the most enhanced of 2" in found["t1ce"]["evidence"][0]


def test_with_tags_stripped_a_skull_stripped_3d_flair_is_found_by_exclusion_and_dwi_adc_are_other(tmp_path):
    """Seed 2003's skull-stripped 3D sagittal FLAIR is the held-out series whose pixels alone leave the classifier
    under 0.7: the other three contrasts identified, it is the FLAIR by exclusion, so no FLAIR is synthesized beside
    it; the study's localizer, DWI and ADC series, stripped too, are dropped, not taken for a contrast."""
    from simulation.dicom_study import write_study

    study = tmp_path / "study"
    manifest = write_study(study, 2003, "siemens", ["t1", "t1ce", "t2", "flair"], whole_head=False, extra_series=True)
    flair = pydicom.dcmread(next((study / manifest.by_contrast("flair").folder).glob("*.dcm")))
    assert flair.MRAcquisitionType == "3D", "the case this test is about"
    (study / "manifest.json").unlink()
    _strip_contrast_tags(study)
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0 and report["outcome"] == "skipped", report["reason"]
    found = {s["contrast"]: s for s in report["series"] if s["decision"].startswith("used as")}
    assert set(found) == {"t1", "t1ce", "t2", "flair"}, report["series"]
    assert found["flair"]["series_instance_uid"] == flair.SeriesInstanceUID
    assert "by exclusion" in found["flair"]["evidence"][0] and found["flair"]["confidence"] < 0.42
    used = {s["series_instance_uid"] for s in found.values()}
    others = [s for s in report["series"] if s["series_instance_uid"] not in used]
    assert len(others) == 3 and all(s["decision"] == "dropped" for s in others), others  # localizer, DWI, ADC


def test_rle_compressed_input_is_decoded_into_volumes(study_of, tmp_path):
    from pydicom.uid import RLELossless

    study = study_of("t1", "t2", transfer_syntax=RLELossless)
    assert pydicom.dcmread(next(study.rglob("*.dcm"))).file_meta.TransferSyntaxUID == RLELossless
    empty_model = tmp_path / "model"
    empty_model.mkdir()
    code, report = run_app("-i", str(study), "-o", str(tmp_path / "out"), "-m", str(empty_model))
    assert code == 4 and report["outcome"] == "model-error", report["reason"]
    assert "volumes" in report["timings_s"] and report["reference_series"], "the pixels were decoded into volumes"


def test_the_informatics_gateways_json_sidecars_are_not_taken_for_files_of_the_study(tmp_path):
    from operators.selection.dicom_loader_operator import list_files

    for name in ("1.2.3.dcm", "1.2.3.dcm.json", "notes.json", ".partial"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in list_files(tmp_path)] == ["1.2.3.dcm", "notes.json"]
