"""The node against dcmtk: echoscu, storescu sending a study (plain, JPEG-LS, JPEG 2000), storescp receiving results."""

from __future__ import annotations

import subprocess
import time

import pydicom
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless

from tests.node.conftest import NODE_AE, PACS_AE, dciodvfy_errors, storescu, wait_for


def _series_folders(study):
    return sorted(p for p in study.iterdir() if p.is_dir())


def test_echoscu_gets_success(node_factory):
    node = node_factory()
    result = subprocess.run(
        ["echoscu", "-aet", PACS_AE, "-aec", NODE_AE, "127.0.0.1", str(node.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_a_study_sent_by_storescu_comes_back_as_valid_synthetic_series_at_storescp(
    node_factory, storescp, study_of, copy_study, tmp_path
):
    """T1 as JPEG-LS (storescu -xt), T1ce as JPEG 2000 (-xv), T2 uncompressed: one study, FLAIR comes back."""
    ls_study = study_of("t1", "t1ce", "t2", transfer_syntax=JPEGLSLossless)
    j2k_study = copy_study(study_of("t1", "t1ce", "t2", transfer_syntax=JPEG2000Lossless))
    plain = study_of("t1", "t1ce", "t2")
    folders = {name: _series_folders(s) for name, s in (("ls", ls_study), ("j2k", j2k_study), ("plain", plain))}
    destination = storescp()
    node = node_factory(destinations=[destination.address])

    sent = [
        storescu(node.port, folders["ls"][0], extra=("-xt",)),
        storescu(node.port, folders["j2k"][1], extra=("-xv",)),
        storescu(node.port, folders["plain"][2]),
    ]
    for result in sent:
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Failed" not in result.stderr and "error" not in result.stderr.lower(), result.stderr[-2000:]
    status = wait_for(lambda: " sent " in (s := node.status()) and s, 900, "the job to be marked sent")
    source = pydicom.dcmread(next(plain.rglob("*.dcm")), stop_before_pixels=True)
    assert source.StudyInstanceUID in status
    files = destination.files()
    datasets = [pydicom.dcmread(p) for p in files]
    sizes = {len(list(folder.glob("*.dcm"))) for folder in folders["plain"]}
    assert len(datasets) in sizes, "one instance per slice of the reference series"
    assert {ds.StudyInstanceUID for ds in datasets} == {source.StudyInstanceUID}
    assert {ds.SeriesDescription for ds in datasets} == {"SYNTHETIC FLAIR (MSG-LDM)"}
    assert all(list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"] for ds in datasets)
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert not dciodvfy_errors(files[len(files) // 2])
    # Sending a series again makes no new version of the study: nothing arrives twice.
    for path in files:
        path.unlink()
    assert storescu(node.port, folders["plain"][2]).returncode == 0
    time.sleep(4)  # more than two stable periods
    assert destination.files() == []
    assert node.status_cli().count(" sent ") == 1, "python -m app status shows the queue"
