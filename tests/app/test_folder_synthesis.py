"""The whole graph with the shipped model: studies missing one or two contrasts in, valid synthetic series out.

Checked on every output: dciodvfy without errors, the source study's UIDs,
synthetic markings (SeriesDescription, ImageType, burned-in label), one
instance per reference slice at the reference's positions, the report, the
preview. The quality check compares the synthetic FLAIR with the FLAIR the
simulator acquired (removed from the input) on the reference geometry, by
correlation over the head, against the nearest acquired contrast (the T2).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from app.run_options import DEFAULT_MODEL
from operators.volume.dicom_volume import series_volume
from operators.volume.volume_assembly import to_reference_geometry
from tests.app.running import run_app

FAST = ("--sampler-steps", "4")
"""Fewer DDIM steps should a sample be the default; the shipped default, the deterministic mean, takes none."""


def _series(folder):
    return [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]


def _reference_positions(study, uid):
    positions = []
    for path in study.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.SeriesInstanceUID == uid:
            positions.append(tuple(round(float(v), 3) for v in ds.ImagePositionPatient))
    return sorted(positions)


def _check_outputs(study, out, report, missing):
    assert report["outcome"] == "synthesized", report["reason"]
    assert report["contrasts_missing"] == list(missing)
    assert (out / "preview.png").stat().st_size > 10_000
    source = pydicom.dcmread(next(study.rglob("*.dcm")), stop_before_pixels=True)
    reference = _reference_positions(study, report["reference_series"])
    assert [o["contrast"] for o in report["outputs"]] == list(missing)
    for output in report["outputs"]:
        datasets = _series(out / output["folder"])
        assert len(datasets) == output["instances"] == len(reference)
        assert sorted(tuple(round(float(v), 3) for v in ds.ImagePositionPatient) for ds in datasets) == reference
        for ds in datasets:
            assert ds.StudyInstanceUID == source.StudyInstanceUID
            assert ds.PatientID == source.PatientID
            assert ds.SeriesInstanceUID == output["series_instance_uid"]
            assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
            assert ds.SeriesDescription.startswith("SYNTHETIC")
            assert ds.BurnedInAnnotation == "YES"
        middle = sorted((out / output["folder"]).glob("*.dcm"))[len(datasets) // 2]
        check = subprocess.run(["dciodvfy", str(middle)], capture_output=True, text=True)
        errors = [line for line in check.stderr.splitlines() if line.startswith("Error")]
        assert not errors, errors


@pytest.mark.parametrize(
    "present",
    [("t1", "t1ce", "t2"), ("t1", "t2", "flair"), ("t1", "t1ce", "flair"), ("t1ce", "t2", "flair"), ("t1", "t2")],
    ids=lambda p: "+".join(p),
)
def test_each_missing_scenario_gives_valid_synthetic_series(present, study_of, synthesized):
    study = study_of(*present)
    code, report, out = synthesized(study, *FAST)
    assert code == 0
    missing = tuple(c for c in ("t1", "t1ce", "t2", "flair") if c not in present)
    _check_outputs(study, out, report, missing)
    assert report["model"]["path"] == str(DEFAULT_MODEL), "without -m the shipped model is used"
    assert report["model"]["output"] == "deterministic"


def test_a_sample_is_written_when_asked_and_the_report_says_so(study_of, synthesized):
    study = study_of("t1", "t1ce", "t2")
    code, report, out = synthesized(study, "--sampler", "ddim:2:shared:image")
    assert code == 0
    assert report["model"]["output"] == "sample"
    assert report["model"]["sampler"] == "ddim 2 steps, eta 0, shared noise, added to the mean image"
    _check_outputs(study, out, report, ("flair",))
    _, default_report, default_out = synthesized(study, *FAST)
    sample = _series(out / report["outputs"][0]["folder"])
    mean = _series(default_out / default_report["outputs"][0]["folder"])
    middle = len(sample) // 2
    assert not np.array_equal(sample[middle].pixel_array, mean[middle].pixel_array), "a sample, not the mean"


def _brain_correlation(values, truth):
    mask = truth > 0.15 * np.percentile(truth[truth > 0], 99)
    return float(np.corrcoef(values[mask], truth[mask])[0, 1])


def test_synthetic_flair_resembles_the_acquired_one_more_than_the_nearest_contrast(study_of, copy_study, tmp_path):
    full = study_of("t1", "t1ce", "t2", "flair")
    study = copy_study(full)
    flair_folder = next(p for p in study.iterdir() if "flair" in p.name.lower())
    truth_datasets = _series(flair_folder)
    shutil.rmtree(flair_folder)
    out = tmp_path / "out"
    code, report = run_app("-i", str(study), "-o", str(out), "--no-label")
    assert code == 0 and report["scenario"] == "t1+t1ce+t2 -> flair"
    reference = series_volume(_series(next(p for p in study.iterdir() if report["reference_series"] in _uids(p))))
    synthetic = series_volume(_series(out / report["outputs"][0]["folder"])).array
    truth_volume = series_volume(truth_datasets)
    truth = to_reference_geometry(truth_volume.array, truth_volume.affine_ras, reference)
    t2_uid = report["contrasts_present"]["t2"]
    t2_volume = series_volume(_series(next(p for p in study.iterdir() if t2_uid in _uids(p))))
    nearest = to_reference_geometry(t2_volume.array, t2_volume.affine_ras, reference)
    model_r, nearest_r = _brain_correlation(synthetic, truth), _brain_correlation(nearest, truth)
    # Inside the brain, against the acquired FLAIR: msgldm-cpu 0.3.0 measured 0.72 (0.2.0: 0.22), the T2 -0.07.
    assert model_r > 0.6 and model_r > max(nearest_r, 0.0) + 0.5, (model_r, nearest_r)


def _uids(folder):
    if not folder.is_dir():
        return set()
    first = next(folder.glob("*.dcm"), None)
    return {pydicom.dcmread(first, stop_before_pixels=True).SeriesInstanceUID} if first else set()


def test_a_rerun_gives_the_same_pixels_and_uids_and_the_cli_reads_holoscan_variables(study_of, synthesized, tmp_path):
    study = study_of("t1", "t2", "flair")
    code, report, first = synthesized(study, *FAST)
    assert code == 0
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(DEFAULT_MODEL.parents[1]),
        "HOLOSCAN_INPUT_PATH": str(study),
        "HOLOSCAN_OUTPUT_PATH": str(tmp_path / "second"),
        "MRI_SYNTH_TASK_METADATA": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", *FAST], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "synthesized" in done.stdout
    (output,) = report["outputs"]
    again = _series(tmp_path / "second" / output["folder"])
    before = _series(first / output["folder"])
    assert [d.SOPInstanceUID for d in again] == [d.SOPInstanceUID for d in before]
    assert all(np.array_equal(a.pixel_array, b.pixel_array) for a, b in zip(again, before))
    metadata = json.loads((tmp_path / "second" / "metadata.json").read_text())
    assert metadata["outcome"] == "synthesized" and metadata["synthetic_series"] == "1"
    assert metadata["synthesized"] == "t1ce" and metadata["model_version"] == report["model"]["version"]


def test_our_own_output_sent_back_is_never_used_as_input(study_of, copy_study, synthesized, tmp_path):
    original = study_of("t1", "t1ce", "t2")
    code, report, out = synthesized(original, *FAST)
    study = copy_study(original)
    assert code == 0
    shutil.copytree(out / report["outputs"][0]["folder"], study / "returned")
    code, again = run_app("-i", str(study), "-o", str(tmp_path / "again"), "--dry-run")
    assert code == 0 and again["scenario"] == "t1+t1ce+t2 -> flair"
    ours = next(s for s in again["series"] if s["series_instance_uid"] == report["outputs"][0]["series_instance_uid"])
    assert ours["decision"] == "dropped"


def test_compressed_input_and_an_enhanced_multiframe_series_are_read(study_of, copy_study, tmp_path):
    from highdicom.legacy import LegacyConvertedEnhancedMRImage
    from pydicom.uid import JPEGLSLossless

    study = copy_study(study_of("t1", "t2", "flair", transfer_syntax=JPEGLSLossless))
    folders = [p for p in study.iterdir() if p.is_dir()]
    t1_folder = next(p for p in folders if "t1" in p.name.lower() or "mprage" in p.name.lower())
    legacy = _series(t1_folder)
    enhanced = LegacyConvertedEnhancedMRImage(
        legacy_datasets=legacy,
        series_instance_uid=legacy[0].SeriesInstanceUID,
        series_number=int(legacy[0].SeriesNumber),
        sop_instance_uid=f"{legacy[0].SOPInstanceUID}.1",
        instance_number=1,
    )
    shutil.rmtree(t1_folder)
    enhanced.save_as(study / "t1_enhanced.dcm")
    out = tmp_path / "out"
    code, report = run_app("-i", str(study), "-o", str(out), *FAST)
    assert code == 0, report["reason"]
    t1 = next(s for s in report["series"] if s.get("contrast") == "t1")
    assert t1["instances"] == 1 and t1["decision"] == "used as t1"
    _check_outputs(study, out, report, ("t1ce",))


def _recode(folder, transfer_syntax):
    """Re-encode every instance of a series folder losslessly (same UIDs, same pixels)."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        if transfer_syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = transfer_syntax
        else:
            ds.compress(transfer_syntax, generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)
        assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == transfer_syntax


def test_jpeg2000_and_deflated_input_and_the_isotropic_output_grid_match_the_reference_grid_run(
    study_of, copy_study, tmp_path
):
    from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless

    plain = study_of("t1", "t1ce", "t2")
    study = copy_study(plain)
    folders = sorted(p for p in study.iterdir() if p.is_dir())
    _recode(folders[0], JPEG2000Lossless)
    _recode(folders[1], DeflatedExplicitVRLittleEndian)
    code, on_reference = run_app("-i", str(plain), "-o", str(tmp_path / "reference"), *FAST, "--no-label")
    assert code == 0, on_reference["reason"]
    code, isotropic = run_app(
        "-i", str(study), "-o", str(tmp_path / "isotropic"), *FAST, "--no-label", "--output-grid", "isotropic"
    )
    assert code == 0, isotropic["reason"]
    assert isotropic["reference_series"] == on_reference["reference_series"]
    assert any("isotropic" in note for note in isotropic["notes"])

    datasets = _series(tmp_path / "isotropic" / isotropic["outputs"][0]["folder"])
    reference_folder = next(p for p in plain.iterdir() if on_reference["reference_series"] in _uids(p))
    reference_uids = {ds.SOPInstanceUID for ds in _series(reference_folder)}
    for ds in datasets:
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]
        source = ds.SourceImageSequence[0].ReferencedSOPInstanceUID
        assert source in reference_uids, "each slice references an acquired instance, never a virtual one"
        assert ds.StudyInstanceUID == datasets[0].StudyInstanceUID
    heights = sorted(float(ds.ImagePositionPatient[2]) for ds in datasets)
    assert np.allclose(np.diff(heights), 1.0)
    middle = sorted((tmp_path / "isotropic" / isotropic["outputs"][0]["folder"]).glob("*.dcm"))[len(datasets) // 2]
    check = subprocess.run(["dciodvfy", str(middle)], capture_output=True, text=True)
    assert not [line for line in check.stderr.splitlines() if line.startswith("Error")], check.stderr

    # The same synthetic volume (same inputs once decoded, same seed) resampled by the test onto the reference
    # series must match what the reference-grid run wrote: proves the decoding and the grid's geometry.
    reference = series_volume(_series(reference_folder))
    iso = series_volume(datasets)
    resampled = to_reference_geometry(iso.array, iso.affine_ras, reference)
    written = series_volume(_series(tmp_path / "reference" / on_reference["outputs"][0]["folder"])).array
    head = written > 0.1 * written.max()
    assert np.corrcoef(resampled[head], written[head])[0, 1] > 0.98
