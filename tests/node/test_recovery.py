"""The node never loses a study: kill -9 while receiving and while running a job, a destination down at first,
several senders at once, a corrupt instance. The node is a real process; the peers are dcmtk."""

from __future__ import annotations

import re
import subprocess
import time

import pydicom
import pytest

from tests.node.conftest import NODE_AE, PACS_AE, storescu, wait_for


def _acknowledged(storescu_log: str) -> list[str]:
    """Files storescu sent and saw answered Success (its -v log pairs 'Sending file' with the response)."""
    done, current = [], None
    for line in storescu_log.splitlines():
        if line.startswith("I: Sending file: "):
            current = line.removeprefix("I: Sending file: ").strip()
        elif "Received Store Response (Success)" in line and current:
            done.append(current)
            current = None
    return done


def _spooled_uids(spool) -> set[str]:
    return {p.stem for p in (spool / "studies").rglob("*.dcm")}


def test_kill_9_while_receiving_keeps_every_acknowledged_instance(node_factory, study_of):
    study = study_of("t1", "t1ce", "t2", "flair")
    node = node_factory(stable_after_s=600)  # no job: only receiving is under test
    command = [
        "storescu",
        "-v",
        "-aet",
        PACS_AE,
        "-aec",
        NODE_AE,
        "+sd",
        "+r",
        "-nh",
        "127.0.0.1",
        str(node.port),
        str(study),
    ]
    sender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: len(_spooled_uids(node.spool)) >= 60, 120, "60 instances in the spool", every_s=0.05)
    node.kill()
    log, _ = sender.communicate(timeout=120)
    acknowledged = _acknowledged(log)
    total = len(list(study.rglob("*.dcm")))
    assert 60 <= len(acknowledged) < total, "the kill came in the middle of the study"
    uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in acknowledged}
    assert uids <= _spooled_uids(node.spool), "an acknowledged instance was lost"
    for path in (node.spool / "studies").rglob("*.dcm"):
        pydicom.dcmread(path)  # whole files only

    node.start()  # same spool: the files are registered again, the rest of the study arrives
    assert storescu(node.port, study).returncode == 0
    assert len(_spooled_uids(node.spool)) == total
    status = node.status()
    assert re.search(rf"received\s+{total}\b", status), status


def test_kill_9_during_a_job_and_a_destination_down_at_first_deliver_the_results_once(node_factory, storescp, study_of):
    study = study_of("t1", "t1ce", "t2")
    destination = storescp(start=False)  # down
    node = node_factory(destinations=[destination.address], send_retry_s=1, send_retry_max_s=2, retention_days=0)
    assert storescu(node.port, study).returncode == 0
    wait_for(lambda: " running " in node.status(), 120, "the job to run")
    time.sleep(3)  # into the job (model loading or sampling)
    node.kill()

    node.start()
    wait_for(lambda: " done " in node.status(), 900, "the job to run again and finish")
    status = node.status()
    assert "Connection refused" in status or "cannot associate" in status or " done " in status
    time.sleep(3)  # a few failed send attempts
    assert destination.folder.exists() is False or destination.files() == []
    destination.start()
    wait_for(lambda: " sent " in node.status(), 120, "the results to be acknowledged")
    files = destination.files()
    uids = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]
    assert len(uids) == len(set(uids)) > 0
    time.sleep(4)
    assert len(destination.files()) == len(files), "nothing arrives twice"
    assert node.status().count(" sent ") == 1
    # retention_days 0: once the results are acknowledged the study's files leave the spool
    wait_for(lambda: not _spooled_uids(node.spool), 30, "the spool to be cleaned")


@pytest.fixture
def studies(tmp_path_factory, simulated_subject):
    """Four distinct studies (seeds 11-14) of the shared subject: three complete, one with a corrupt T2 slice."""
    from simulation.dicom_study import write_study

    made = []
    for seed in (11, 12, 13, 14):
        out = tmp_path_factory.mktemp(f"study{seed}")
        contrasts = ["t1", "t1ce", "t2", "flair"] if seed != 14 else ["t1", "t2", "flair"]
        write_study(out, seed=seed, vendor="ge", contrasts=contrasts, subject=simulated_subject)
        made.append(out)
    t2 = next(p for p in made[3].iterdir() if p.is_dir() and "t2" in p.name.lower() and "flair" not in p.name.lower())
    victim = sorted(t2.glob("*.dcm"))[5]
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.save_as(victim)
    return made, ds.SOPInstanceUID


def test_several_senders_at_once_lose_nothing_and_a_corrupt_instance_ends_its_study_with_a_reason(
    node_factory, studies
):
    folders, corrupt_uid = studies
    node = node_factory(stable_after_s=3)
    senders = [
        subprocess.Popen(
            [
                "storescu",
                "-aet",
                PACS_AE,
                "-aec",
                NODE_AE,
                "+sd",
                "+r",
                "-nh",
                "127.0.0.1",
                str(node.port),
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    for sender in senders:
        _, errors = sender.communicate(timeout=300)
        assert sender.returncode == 0, errors[-2000:]
    expected = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for f in folders for p in f.rglob("*.dcm")
    }
    assert _spooled_uids(node.spool) == expected
    assert corrupt_uid in _spooled_uids(node.spool), "the corrupt instance is kept"
    wait_for(lambda: node.status().count(" done ") + node.status().count(" failed ") == 4, 600, "four jobs to end")
    status = node.status()
    assert status.count("nothing to synthesize") == 3, status
    failed = next(line for line in status.splitlines() if " failed " in line)
    assert str(corrupt_uid) in failed and "cannot decode the pixel data" in failed, failed


def test_a_contrast_arriving_later_makes_a_new_version_and_a_resent_study_makes_none(node_factory, study_of):
    study = study_of("t1", "t1ce", "t2", "flair")
    folders = {p.name: p for p in study.iterdir() if p.is_dir()}
    first = [p for name, p in folders.items() if "MPRAGE_pre" in name or "T2_TSE" in name]
    later = [p for p in folders.values() if p not in first]
    node = node_factory(stable_after_s=1.5, output={"min_present": 3})
    assert storescu(node.port, *first).returncode == 0
    wait_for(lambda: " done " in node.status(), 300, "version 1 to end")
    assert "at least 3 are needed" in node.status(), node.status()
    assert storescu(node.port, *later).returncode == 0
    wait_for(lambda: node.status().count(" done ") == 2, 300, "version 2 to end")
    assert "nothing to synthesize" in node.status()
    assert storescu(node.port, study).returncode == 0  # the PACS sends the whole study again
    time.sleep(4)
    assert node.status().count(" done ") == 2 and " queued " not in node.status(), node.status()


def test_a_job_over_its_time_limit_is_stopped_and_marked_failed(node_factory, study_of):
    node = node_factory(stable_after_s=1, job_timeout_s=1)
    assert storescu(node.port, study_of("t1", "t2")).returncode == 0
    wait_for(lambda: " failed " in node.status(), 120, "the job to fail")
    assert "time limit of 1 s exceeded" in node.status()
    assert echo_ok(node)


def echo_ok(node) -> bool:
    from tests.node.conftest import echo

    return echo(node.port) == 0


def test_a_contrast_the_node_synthesized_then_received_acquired_is_flagged_for_removal(node_factory, study_of):
    study = study_of("t1", "t1ce", "t2", "flair")
    folders = {p.name: p for p in study.iterdir() if p.is_dir()}
    first = [p for name, p in folders.items() if "MPRAGE_pre" in name or "T2_TSE" in name]
    flair = [p for name, p in folders.items() if "FLAIR" in name.upper()]
    node = node_factory(stable_after_s=1.5)
    assert storescu(node.port, *first).returncode == 0
    wait_for(lambda: " done " in node.status() or " sent " in node.status(), 300, "version 1 to end")
    assert storescu(node.port, *flair).returncode == 0
    wait_for(lambda: "remove that series" in node.status(), 300, "version 2 to flag the synthetic FLAIR")
    status = node.status()
    assert "FLAIR is acquired now, but version 1 synthesized it" in status, status
    assert "T1CE is acquired now" not in status
