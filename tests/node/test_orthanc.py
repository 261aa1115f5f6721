"""Orthanc as the PACS: it routes stable studies to the node with the shipped Lua script, the node sends results
back into it, no loop."""

from __future__ import annotations

import subprocess
import time

import pydicom

from tests.node.conftest import REPO, free_port, wait_for
from tests.node.orthanc_peer import ORTHANC_AE

ROUTE = REPO / "deploy" / "orthanc" / "route-to-nodes.lua"


def test_orthanc_routes_a_study_and_receives_each_synthetic_series_exactly_once(node_factory, orthanc, study_of):
    node_port = free_port()
    pacs = orthanc({"synth-1": node_port}, ROUTE.read_text())
    # No destination configured: results go back to the caller's address in allowed_callers.
    node = node_factory(
        port=node_port, stable_after_s=15, allowed_callers=[f"{ORTHANC_AE}@127.0.0.1:{pacs.dicom_port}"]
    )
    study = study_of("t1", "t2", "flair")
    uid = pydicom.dcmread(next(study.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID
    sent = subprocess.run(
        [
            "storescu",
            "-aet",
            "MRI",
            "-aec",
            ORTHANC_AE,
            "+sd",
            "+r",
            "-nh",
            "127.0.0.1",
            str(pacs.dicom_port),
            str(study),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sent.returncode == 0, sent.stderr[-2000:]
    acquired = pacs.series_descriptions(uid)
    assert len(acquired) == 3

    synthetic = "SYNTHETIC T1ce (MSG-LDM)"
    wait_for(lambda: synthetic in pacs.series_descriptions(uid), 900, "the synthetic T1ce in Orthanc", every_s=1)
    time.sleep(8)  # several stable periods of Orthanc and of the node: a routing loop would show now
    descriptions = pacs.series_descriptions(uid)
    assert descriptions.count(synthetic) == 1, descriptions
    assert len(descriptions) == 4, descriptions
    status = node.status()
    assert status.count(" sent ") == 1, status
    assert "failed" not in status.split("jobs:")[-1], status
