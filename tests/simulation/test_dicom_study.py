"""The `study` mode end to end: geometry read back, IOD validation, a real C-STORE, session order, determinism, CLI."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, MRImageStorage

from simulation import CONTRASTS
from simulation.dicom_study import StudyManifest, write_study

DCIODVFY_WARNINGS_EXPECTED = (
    # Vendors' own terms for ImageType value 3 (M, M_FFE, DIFFUSION, LOCALIZER, ADC) and ScanOptions (IR, *_GEMS).
    re.compile(r"Unrecognized defined term"),
    # DiffusionBValue belongs to the enhanced MR IOD; classic MR images carry it as a standard extension.
    re.compile(r"\(0x0018,0x9087\) FD Diffusion b-value"),
    re.compile(r"this is a Standard Extended SOP Class"),
)


@pytest.fixture(scope="module")
def studies(siemens_study, ge_2d_study, write_session_study) -> dict[str, StudyManifest]:
    """One study per vendor, 3D and 2D protocols both covered, every series role present."""
    return {
        "siemens": siemens_study,
        "ge_2d": ge_2d_study,
        "philips": write_session_study("philips"),
        "canon_2d": write_session_study("canon", two_d=True),
    }


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


@pytest.mark.parametrize("contrast", CONTRASTS)
@pytest.mark.parametrize("name", ["siemens", "ge_2d"])
def test_contrast_series_reads_back_as_the_simulated_volume(studies, name, contrast, study_subject, reader):
    study = studies[name]
    volume = reader.read_volume(study.out / study.by_contrast(contrast).folder)
    # What the scanner saw: the noise-free contrast under the session's receive field.
    truth_1mm = study_subject.clean[contrast] * reader.session_bias(study_subject)
    truth = reader.resample_to(truth_1mm, study_subject.affine, volume, step=2)
    mask_1mm = study_subject.brain_mask.astype(np.float32)
    brain = reader.resample_to(mask_1mm, study_subject.affine, volume, step=2, thickness_samples=1) > 0.5
    seen = volume.voxels[::2, ::2, ::2]
    assert brain.sum() > 1000
    assert _correlation(seen, truth, brain) > 0.95
    # The same check fails for what a reader gets wrong: slice order, row order, column order.
    assert _correlation(seen[::-1], truth, brain) < 0.8
    assert _correlation(seen[:, ::-1], truth, brain) < 0.8
    assert _correlation(seen[:, :, ::-1], truth, brain) < 0.9


def _dciodvfy(path: Path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(("Error", "Warning"))]


@pytest.mark.parametrize("name", ["siemens", "ge_2d", "philips", "canon_2d"])
def test_every_series_passes_dciodvfy_without_errors(studies, name):
    assert shutil.which("dciodvfy"), "dciodvfy missing: `make setup` installs dicom3tools"
    study = studies[name]
    lines = []
    for record in study.series:
        files = sorted((study.out / record.folder).glob("*.dcm"))
        for path in {files[0], files[-1]}:  # DWI: the b = 0 and the b = 1000 image
            lines += [f"{record.folder}/{path.name}: {line}" for line in _dciodvfy(path)]
    errors = [line for line in lines if ": Error" in line]
    unexpected = [line for line in lines if not any(p.search(line) for p in DCIODVFY_WARNINGS_EXPECTED)]
    assert not errors, "\n".join(errors)
    assert not unexpected, "\n".join(unexpected)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_storescu_delivers_every_instance_to_storescp(siemens_study, tmp_path, reader):
    assert shutil.which("storescp") and shutil.which("storescu"), "dcmtk missing: `make setup` installs it"
    received = tmp_path / "received"
    received.mkdir()
    port = _free_port()
    # dcmtk leaves Nagle's algorithm on unless told: ~45 ms per instance on loopback instead of <1 ms.
    env = {**os.environ, "TCP_NODELAY": "1"}
    scp = subprocess.Popen(
        ["storescp", "-dhl", "-aet", "SIMPACS", "-od", str(received), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        echo = ["echoscu", "-aet", "SIMSCANNER", "-aec", "SIMPACS", "127.0.0.1", str(port)]
        deadline = time.monotonic() + 15
        while subprocess.run(echo, capture_output=True, timeout=10).returncode != 0:
            assert time.monotonic() < deadline, "storescp did not answer C-ECHO within 15 s"
            assert scp.poll() is None, "storescp exited"
            time.sleep(0.05)
        send = ["storescu", "-aet", "SIMSCANNER", "-aec", "SIMPACS", "+sd", "+r", "-nh", "127.0.0.1", str(port)]
        result = subprocess.run([*send, str(siemens_study.out)], env=env, capture_output=True, text=True, timeout=300)
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    sent = {ds.SOPInstanceUID for r in siemens_study.series for ds in reader.read_series(siemens_study.out / r.folder)}
    arrived = {pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID for path in received.iterdir()}
    assert len(sent) == sum(r.files for r in siemens_study.series)
    assert arrived == sent


def _all_files(study: StudyManifest, reader) -> list[pydicom.Dataset]:
    return [ds for record in study.series for ds in reader.read_series(study.out / record.folder)]


@pytest.mark.parametrize("name", ["siemens", "ge_2d"])
def test_study_is_one_patient_one_frame_of_reference_with_unique_uids(studies, name, reader):
    datasets = _all_files(studies[name], reader)
    assert {ds.StudyInstanceUID for ds in datasets} == {studies[name].study_instance_uid}
    assert len({ds.FrameOfReferenceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert len({ds.SeriesInstanceUID for ds in datasets}) == len(studies[name].series)
    assert {(str(ds.PatientName), ds.PatientID) for ds in datasets} == {("SIM^SUBJECT3", "SIM3")}
    assert {ds.file_meta.TransferSyntaxUID for ds in datasets} == {ExplicitVRLittleEndian}
    assert {ds.SOPClassUID for ds in datasets} == {MRImageStorage}
    assert all(int(ds.pixel_array.max()) < 2**ds.BitsStored for ds in datasets)


@pytest.mark.parametrize("name", ["siemens", "ge_2d"])
def test_t1ce_carries_the_contrast_agent_and_follows_t1(studies, name, reader):
    study = studies[name]
    t1 = reader.read_series(study.out / study.by_contrast("t1").folder)
    t1ce = reader.read_series(study.out / study.by_contrast("t1ce").folder)
    assert all(ds.ContrastBolusAgent and ds.ContrastBolusRoute == "IV" and ds.ContrastBolusVolume > 0 for ds in t1ce)
    others = [ds for ds in _all_files(study, reader) if ds.SeriesInstanceUID != t1ce[0].SeriesInstanceUID]
    assert not any("ContrastBolusAgent" in ds for ds in others)
    t1_end = max(float(ds.AcquisitionTime) for ds in t1)
    injection = float(t1ce[0].ContrastBolusStartTime)
    assert t1_end < injection < min(float(ds.AcquisitionTime) for ds in t1ce)
    assert float(t1ce[0].SeriesTime) > float(t1[0].SeriesTime)


@pytest.mark.parametrize("name", ["siemens", "ge_2d"])
def test_2d_series_have_a_slice_gap_and_3d_series_none(studies, name, reader):
    study = studies[name]
    checked = 0
    for record in study.series:
        if record.role == "localizer":
            continue
        datasets = reader.read_series(study.out / record.folder)
        volume = reader.read_volume(study.out / record.folder) if record.role not in ("dwi",) else None
        thickness, spacing = float(datasets[0].SliceThickness), float(datasets[0].SpacingBetweenSlices)
        if datasets[0].MRAcquisitionType == "2D":
            assert spacing > thickness * 1.05, record.folder
            checked += 1
        else:
            assert spacing == pytest.approx(thickness)
        if volume is not None:
            assert np.linalg.norm(volume.affine[:3, 2]) == pytest.approx(spacing, abs=1e-3)
    assert checked >= 3


def test_adc_map_holds_tissue_diffusivities(siemens_study, study_subject, reader):
    dwi = reader.read_series(siemens_study.out / next(r.folder for r in siemens_study.series if r.role == "dwi"))
    assert sorted({float(ds.DiffusionBValue) for ds in dwi}) == [0.0, 1000.0]
    adc = reader.read_volume(siemens_study.out / next(r.folder for r in siemens_study.series if r.role == "adc"))

    def inside(region: np.ndarray, fraction: float = 0.99) -> np.ndarray:
        seen = reader.resample_to(region.astype(np.float32), study_subject.affine, adc, thickness_samples=1)
        return adc.voxels[seen > fraction]  # 1e-6 mm2/s

    labels = study_subject.labels
    normal = inside(study_subject.brain_mask * (labels == 0))
    assert 650 < np.median(normal) < 1000  # white and grey matter
    assert np.percentile(normal, 99.5) > 2200  # ventricles (thick slices mix them with tissue)
    # Glioma: free water in the necrotic core, vasogenic edema, restricted diffusion in the cellular rim.
    assert np.median(inside(labels == 1, 0.9)) > 1700
    assert 1200 < np.median(inside(labels == 2, 0.9)) < 1700
    assert np.median(inside(labels == 4, 0.9)) < 1200


def test_only_requested_contrasts_plus_localizer_dwi_and_adc(write_session_study, reader):
    study = write_session_study("siemens", ("t1", "t2"))
    assert {r.contrast for r in study.series} == {"t1", "t2", None}
    assert [r.role for r in study.series] == ["localizer", "t1_3d", "t2_2d", "dwi", "adc"]
    assert not any("ContrastBolusAgent" in ds for ds in _all_files(study, reader))


def test_manifest_records_every_series_as_written(siemens_study, reader):
    assert StudyManifest.read(siemens_study.out / "manifest.json") == siemens_study
    for record in siemens_study.series:
        datasets = reader.read_series(siemens_study.out / record.folder)
        assert len(datasets) == record.files
        assert {ds.SeriesInstanceUID for ds in datasets} == {record.series_instance_uid}
        assert datasets[0].SeriesDescription == record.series_description
        first, second = (np.array(ds.ImagePositionPatient, dtype=float) for ds in datasets[:2])
        assert np.allclose(record.affine @ [0, 0, 0, 1], [*first, 1], atol=1e-4)
        if record.role != "localizer":
            assert np.allclose(record.affine @ [0, 0, 1, 1], [*second, 1], atol=1e-4)


def test_uids_are_the_same_in_every_version_for_the_same_arguments(siemens_study, reader):
    # Golden values: a re-sent demo study must land on the PACS's existing study, not make a second one.
    assert siemens_study.study_instance_uid == "2.25.51230574718395874960108093343351499794"
    first_t1 = reader.read_series(siemens_study.out / siemens_study.by_contrast("t1").folder)[0]
    assert first_t1.SOPInstanceUID == "2.25.67496920712389335947002695526781122718"


def test_writer_refuses_a_folder_holding_other_files(tmp_path, study_subject):
    (tmp_path / "notes.txt").write_text("not a study")
    with pytest.raises(FileExistsError, match="notes.txt"):
        write_study(tmp_path, 3, "siemens", ["t2"], True, "glioma", extra_series=False, subject=study_subject)


def test_writing_again_replaces_the_previous_study(tmp_path, study_subject):
    write_study(tmp_path, 3, "siemens", ["t2"], True, "glioma", extra_series=False, subject=study_subject)
    again = write_study(tmp_path, 3, "philips", ["t2"], True, "glioma", extra_series=False, subject=study_subject)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["manifest.json", again.series[0].folder])


def test_lossless_compression_keeps_every_instance_and_pixel(tmp_path, study_subject, reader):
    args = (3, "ge", ["t2"], True, "glioma")
    plain = write_study(tmp_path / "plain", *args, extra_series=False, subject=study_subject)
    packed = write_study(
        tmp_path / "jls", *args, extra_series=False, subject=study_subject, transfer_syntax=JPEGLSLossless
    )
    before = reader.read_series(plain.out / plain.series[0].folder)
    after = reader.read_series(packed.out / packed.series[0].folder)
    assert {ds.file_meta.TransferSyntaxUID for ds in after} == {JPEGLSLossless}
    assert [ds.SOPInstanceUID for ds in after] == [ds.SOPInstanceUID for ds in before]
    assert all(np.array_equal(a.pixel_array, b.pixel_array) for a, b in zip(after, before, strict=True))


def _finished(cli_runs, name: str) -> tuple[subprocess.CompletedProcess, Path]:
    process, out = cli_runs[name]
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), out


def _file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.dcm")}


def test_cli_writes_the_study_and_prints_its_description(cli_runs):
    result, out = _finished(cli_runs, "seed3_ge")
    assert result.returncode == 0, result.stderr
    manifest = StudyManifest.read(out / "manifest.json")
    assert "Simulated MR study SIM3 (GE MEDICAL SYSTEMS" in result.stdout
    assert all(record.series_description[:34] in result.stdout for record in manifest.series)
    assert [r.contrast for r in manifest.series if r.contrast] == ["t1", "t2", "flair"]


def test_same_seed_gives_byte_identical_files_in_another_process(cli_runs, write_session_study):
    _, out = _finished(cli_runs, "seed3_ge")
    in_process = write_session_study("ge", ("t1", "t2", "flair"))
    assert _file_hashes(out) == _file_hashes(in_process.out)


def test_different_seed_gives_different_uids_and_pixels(cli_runs, reader):
    (_, seed3), (result, seed4) = _finished(cli_runs, "seed3_ge"), _finished(cli_runs, "seed4_ge")
    assert result.returncode == 0, result.stderr
    studies = [StudyManifest.read(out / "manifest.json") for out in (seed3, seed4)]
    assert studies[0].study_instance_uid != studies[1].study_instance_uid
    uids, pixels = [], []
    for study in studies:
        datasets = [ds for r in study.series for ds in reader.read_series(study.out / r.folder)]
        uids.append({ds.SOPInstanceUID for ds in datasets})
        pixels.append({hashlib.sha256(ds.PixelData).hexdigest() for ds in datasets})
    assert not uids[0] & uids[1]
    assert not pixels[0] & pixels[1]
