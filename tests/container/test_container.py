"""The MAP image run with podman: as a DICOM node (dcmtk peers), in folder mode, stopped with SIGTERM.

The node gets a simulated T1/T1ce/T2 study from storescu and must send a valid
synthetic FLAIR to storescp; folder mode must give the same pixels and UIDs as
the same run outside the container. The model is the shipped one; the sampler
runs 4 DDIM steps (the node's output.sampler_steps, the CLI's flag) to keep the
suite inside CI's budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pydicom
import pytest
import yaml

from app.manifest import app_manifest, package_manifest, read_app_yaml
from tests.container.conftest import REPO, RUN_FLAGS, podman, volume_folder, writable_folder
from tests.node.conftest import NODE_AE, PACS_AE, dciodvfy_errors, echo, free_port, storescu, wait_for

FAST = ("--sampler-steps", "4")
pytestmark = pytest.mark.timeout(1800)  # the first test may wait for the image build from scratch


def _queue_status(spool) -> str:
    from app.node.cli import render_status
    from app.node.jobs import JobQueue

    if not (spool / "jobs.sqlite").is_file():
        return ""
    queue = JobQueue(spool / "jobs.sqlite")
    try:
        return render_status(queue)
    finally:
        queue.close()


def _by_instance(folder) -> list[pydicom.Dataset]:
    return sorted((pydicom.dcmread(p) for p in folder.rglob("*.dcm")), key=lambda ds: int(ds.InstanceNumber))


def test_the_image_has_the_map_layout_a_non_root_user_labels_and_a_healthcheck(image):
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "holoscan"
    labels = config["Labels"]
    for key in ("version", "source", "licenses", "revision"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert inspected["Healthcheck"]["Test"][-1] == "health", "HEALTHCHECK runs the C-ECHO probe"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOLOSCAN_INPUT_PATH"] == "/var/holoscan/input"
    assert env["HOLOSCAN_OUTPUT_PATH"] == "/var/holoscan/output"
    assert env["HOLOSCAN_MODEL_PATH"] == "/opt/holoscan/models"
    script = "id -u; ls /opt/holoscan/models/msgldm-cpu; cat /etc/holoscan/app.json /etc/holoscan/pkg.json"
    listing = podman("run", "--rm", *RUN_FLAGS, "--entrypoint", "sh", image, "-c", script)
    uid, *rest = listing.stdout.splitlines()
    assert uid != "0"
    for name in ("weights.pt", "weights.sha256", "model.yaml", "MODEL_CARD.md"):
        assert name in rest
    text = "\n".join(rest)
    decoder = json.JSONDecoder()
    start = text.index("{")
    app_json, end = decoder.raw_decode(text, start)
    pkg_json, _ = decoder.raw_decode(text, text.index("{", end))
    config_yaml = read_app_yaml(REPO / "app.yaml")
    assert app_json == app_manifest(config_yaml)
    assert pkg_json == package_manifest(config_yaml, ["msgldm-cpu"], "cpu")


def test_the_node_in_the_container_answers_echo_and_returns_a_valid_synthetic_series_then_stops_on_sigterm(
    image, container, volume, study_of, storescp, tmp_path
):
    study = study_of("t1", "t1ce", "t2")
    destination = storescp()
    port = free_port()
    config = tmp_path / "node.yaml"  # the README's way: a config file mounted read-only, the spool a volume
    config.write_text(
        yaml.safe_dump(
            {
                "ae_title": NODE_AE,
                "port": port,
                "stable_after_s": 2,
                "allowed_callers": [PACS_AE],
                "destinations": [destination.address],
                "output": {"sampler_steps": 4},
            }
        )
    )
    os.chmod(config, 0o644)
    node = container(
        "--read-only", "-v", f"{volume}:/var/holoscan/spool", "-v", f"{config}:/etc/synth-node/node.yaml:ro", image
    )
    wait_for(lambda: echo(port) == 0 or not node.running(), 180, "the node in the container to answer C-ECHO")
    assert node.running(), node.logs()[-3000:]
    health = podman("healthcheck", "run", node.name, check=False)
    assert health.returncode == 0, health.stdout + health.stderr

    sent = storescu(port, study)
    assert sent.returncode == 0, sent.stderr[-2000:]
    spool = volume_folder(volume)
    wait_for(lambda: " sent " in _queue_status(spool) or not node.running(), 600, "the job to be marked sent")
    assert node.running(), node.logs()[-3000:]
    source = pydicom.dcmread(next(study.rglob("*.dcm")), stop_before_pixels=True)
    files = destination.files()
    datasets = [pydicom.dcmread(p) for p in files]
    assert len(datasets) in {len(list(series.glob("*.dcm"))) for series in study.iterdir() if series.is_dir()}
    assert {ds.StudyInstanceUID for ds in datasets} == {source.StudyInstanceUID}
    assert {ds.SeriesDescription for ds in datasets} == {"SYNTHETIC FLAIR (MSG-LDM)"}
    for path in (files[0], files[len(files) // 2]):
        assert not dciodvfy_errors(path), path

    started = time.monotonic()
    podman("kill", "--signal", "TERM", node.name)
    code = podman("wait", node.name, timeout=30).stdout.strip()
    assert time.monotonic() - started < 10, "SIGTERM must stop the node within 10 s"
    assert code == "0", node.logs()[-3000:]
    assert "node stopped" in node.logs()
    # The queue survives in the volume: a new container on it sees the finished job.
    status = podman("run", "--rm", *RUN_FLAGS, "-v", f"{volume}:/var/holoscan/spool", image, "status")
    assert source.StudyInstanceUID in status.stdout and " sent " in status.stdout, status.stdout + status.stderr


def test_folder_mode_in_the_container_gives_the_pixels_and_uids_of_the_run_outside(
    image, study_of, synthesized, tmp_path
):
    study = study_of("t1", "t1ce", "t2")
    code, report, outside = synthesized(study, *FAST)
    assert code == 0, report
    inside = writable_folder(tmp_path / "out")
    run = podman(
        "run",
        "--rm",
        *RUN_FLAGS,
        "--read-only",
        "-v",
        f"{study}:/var/holoscan/input:ro",
        "-v",
        f"{inside}:/var/holoscan/output",
        image,
        "folder",
        *FAST,
        timeout=900,
    )
    assert "synthesized" in run.stdout, run.stdout[-2000:] + run.stderr[-3000:]
    assert json.loads((inside / "report.json").read_text())["outcome"] == report["outcome"]
    ours, theirs = _by_instance(inside), _by_instance(outside)
    assert len(ours) == len(theirs) > 0
    assert [ds.SOPInstanceUID for ds in ours] == [ds.SOPInstanceUID for ds in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert np.array_equal(a.pixel_array, b.pixel_array), a.SOPInstanceUID
    assert (inside / "preview.png").is_file()


def test_monai_deploy_run_style_start_runs_folder_mode_once_and_exits(image, tmp_path):
    """`monai-deploy run` mounts the folders, sets HOLOSCAN_HOSTING_SERVICE and gives no command: folder mode."""
    empty = writable_folder(tmp_path / "in")
    out = writable_folder(tmp_path / "out")
    hosted = "HOLOSCAN_HOSTING_SERVICE=HOLOSCAN_RUN"
    run = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            *RUN_FLAGS,
            "--read-only",
            "-e",
            hosted,
            "-v",
            f"{empty}:/var/holoscan/input:ro",
            "-v",
            f"{out}:/var/holoscan/output",
            image,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["outcome"] == "input-error"
