"""Several nodes behind one PACS: a real Orthanc routes each study to one of two nodes with the shipped Lua script
(deploy/orthanc/route-to-nodes.lua), one node is killed with SIGKILL during a job and restarted, and every study
still comes back once, processed by the one node its StudyInstanceUID hashes to.

The script routes a stable study's series in one transfer, so the node sees them together: with per-series routing
a node under load started on a study whose FLAIR was still queued in Orthanc, and synthesized a FLAIR."""

from __future__ import annotations

import subprocess
import time

import pydicom
import pytest

from tests.node.conftest import REPO, free_port, wait_for
from tests.node.orthanc_peer import ORTHANC_AE

ROUTE = REPO / "deploy" / "orthanc" / "route-to-nodes.lua"
NODES = 2
SYNTHETIC = "SYNTHETIC T1ce (MSG-LDM)"


def stable_index(uid: str, count: int) -> int:
    """The Lua script's choice of node for a study, from 0."""
    hash_ = 0
    for byte in uid.encode():
        hash_ = (hash_ * 31 + byte) % 2147483647
    return hash_ % count


@pytest.fixture
def routed_studies(tmp_path_factory, simulated_subject) -> list[tuple[object, str, int]]:
    """Three studies (folder, StudyInstanceUID, node index) of the shared subject, each node getting at least one."""
    from simulation.dicom_study import write_study

    made: list[tuple[object, str, int]] = []
    for seed in range(21, 60):
        out = tmp_path_factory.mktemp(f"study{seed}")
        manifest = write_study(
            out,
            seed=seed,
            vendor="siemens",
            contrasts=["t1", "t2", "flair"],
            subject=simulated_subject,
            extra_series=False,
        )
        (out / "manifest.json").unlink()
        index = stable_index(manifest.study_instance_uid, NODES)
        covered = {i for _, _, i in made}
        if len(made) < 2 or index not in covered or len(covered) == NODES:
            made.append((out, manifest.study_instance_uid, index))
        if len(made) == 3 and len({i for _, _, i in made}) == NODES:
            return made
        if len(made) == 3:
            made.pop()
    raise AssertionError("no three seeds spread over both nodes")


def test_two_nodes_behind_orthanc_process_each_study_once_even_when_one_is_killed(
    node_factory, orthanc, routed_studies, tmp_path
):
    ports = [free_port() for _ in range(NODES)]
    pacs = orthanc({f"synth-{i + 1}": port for i, port in enumerate(ports)}, ROUTE.read_text())
    callers = [f"{ORTHANC_AE}@127.0.0.1:{pacs.dicom_port}"]
    nodes = [
        node_factory(spool=tmp_path / f"spool-{i}", port=port, stable_after_s=10, allowed_callers=callers)
        for i, port in enumerate(ports)
    ]
    for folder, _, _ in routed_studies:
        command = ["storescu", "-aet", "MRI", "-aec", ORTHANC_AE, "+sd", "+r", "-nh", "127.0.0.1", str(pacs.dicom_port)]
        sent = subprocess.run([*command, str(folder)], capture_output=True, text=True, timeout=300)
        assert sent.returncode == 0, sent.stderr[-2000:]

    def transfers_done() -> bool:
        jobs = [j for j in pacs.get("/jobs?expand") if j["Type"] == "DicomModalityStore"]
        return len(jobs) >= len(routed_studies) and all(j["State"] == "Success" for j in jobs)

    wait_for(transfers_done, 300, "Orthanc to route every study", every_s=0.5)
    victim = nodes[routed_studies[-1][2]]  # its last study arrived last: its job is still to come
    wait_for(lambda: " running " in victim.status(), 300, "a job on the node to be killed")
    time.sleep(2)  # into the job
    victim.kill()
    victim.start()  # the same spool: the job runs again

    for _, uid, _ in routed_studies:
        wait_for(
            lambda uid=uid: SYNTHETIC in pacs.series_descriptions(uid), 900, f"the synthetic T1ce of {uid}", every_s=1
        )
    time.sleep(8)  # several stable periods of Orthanc and the nodes: a duplicate or a loop would show now
    for _, uid, _ in routed_studies:
        descriptions = pacs.series_descriptions(uid)
        assert descriptions.count(SYNTHETIC) == 1 and len(descriptions) == 4, (uid, descriptions)
    for index, node in enumerate(nodes):
        mine = {uid for _, uid, i in routed_studies if i == index}
        spooled = {
            str(pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True).StudyInstanceUID)
            for folder in (node.spool / "studies").iterdir()
            if folder.is_dir() and any(folder.glob("*.dcm"))
        }
        assert spooled == mine, f"node {index + 1} received {spooled}, its studies are {mine}"
        status = node.status()
        assert status.count(" sent ") == len(mine) and "failed" not in status.split("jobs:")[-1], status
