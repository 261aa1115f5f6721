"""The image started exactly as MONAI Deploy Workflow Manager's docker plugin starts the shipped workflow's task.

`deploy.workflow_rules.docker_container_spec` reads the task as the plugin does
(entrypoint and command split on ',', each `env_X` argument the variable X,
each artifact bind-mounted at the path of its argument, the input read-only,
the user, and always the `nvidia` runtime). The payload is laid out as the
Task Manager lays it out: `{Study}/{Series}/{SOP}.dcm`, each with the
Informatics Gateway's `.dcm.json` beside it. This host has no GPU: the
runtime named `nvidia` is plain runc, the fix deploy/workflow-manager/README.md
gives for CPU-only hosts (here as podman's containers.conf; docker's
daemon.json says the same).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pydicom

from deploy.workflow_conditions import holds
from deploy.workflow_rules import docker_container_spec
from tests.container.conftest import REPO, writable_folder

WORKFLOW = REPO / "deploy" / "workflow-manager" / "brain-mr-synthesis.json"
HOST_FLAGS = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]
"""What podman needs on these machines (dicom-peers.md), not part of the plugin's request."""


def _payload(study, folder):
    """The study as a Workflow Manager payload: {Study}/{Series}/{SOP}.dcm plus the gateway's JSON sidecars."""
    for path in sorted(study.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        target = folder / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.with_name(target.name + ".json").write_text(ds.to_json())
    os.chmod(folder, 0o755)
    return folder


LEGACY_NAMES = {
    "env_HOLOSCAN_INPUT_PATH": ("env_MONAI_INPUTPATH", "/var/monai/input"),
    "env_HOLOSCAN_OUTPUT_PATH": ("env_MONAI_OUTPUTPATH", "/var/monai/output"),
}
"""The older MAP variables, as MDE's pre-Holoscan sample workflows name the artifacts (`env_MONAI_*`)."""


def _with_legacy_names(task):
    """The docker task as a site copying an older sample would write it, with a scratch folder (env_MONAI_WORKDIR)."""
    args = {key: value for key, value in task["args"].items() if key not in LEGACY_NAMES}
    args |= {name: path for name, path in LEGACY_NAMES.values()} | {"env_MONAI_WORKDIR": "/var/monai/work"}
    renamed = {
        kind: [{**a, "name": LEGACY_NAMES[a["name"]][0]} for a in task["artifacts"][kind]]
        for kind in ("input", "output")
    }
    return {**task, "args": args, "artifacts": renamed}


def _run_task(image, study, tmp_path, legacy_names=False):
    """The shipped workflow's docker task on `study`; returns the output folder and the export's conditions."""
    workflow = json.loads(WORKFLOW.read_text())
    (task,) = [t for t in workflow["tasks"] if t["type"] == "docker"]
    if legacy_names:
        task = _with_legacy_names(task)
    spec = docker_container_spec(task)
    (input_artifact,) = [a["name"] for a in task["artifacts"]["input"]]
    (output_artifact,) = [a["name"] for a in task["artifacts"]["output"]]
    input_mount, output_mount = task["args"][input_artifact], task["args"][output_artifact]
    assert {"Target": input_mount, "ReadOnly": True} in spec["Mounts"]
    scratch = [m["Target"] for m in spec["Mounts"] if m["Target"] not in (input_mount, output_mount)]
    payload = _payload(study, tmp_path / "inputs")
    out = writable_folder(tmp_path / "outputs")
    volumes = [f"{payload}:{input_mount}:ro", f"{out}:{output_mount}"]
    volumes += [f"{writable_folder(tmp_path / f'scratch{i}')}:{target}" for i, target in enumerate(scratch)]
    conf = tmp_path / "containers.conf"
    conf.write_text(f'[engine.runtimes]\nnvidia = ["{shutil.which("runc")}"]\n')

    command = [
        "podman",
        "run",
        "--rm",
        "--read-only",
        *HOST_FLAGS,
        "--runtime",
        spec["Runtime"],
        "--user",
        spec["User"],
        "--entrypoint",
        json.dumps(spec["Entrypoint"]),
        *[f"--env={key}={value}" for key, value in spec["Env"].items()],
        *[flag for volume in volumes for flag in ("-v", volume)],
        image,
        *spec["Cmd"],
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env={**os.environ, "CONTAINERS_CONF": str(conf)}
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    (export,) = task["task_destinations"]
    return out, export["conditions"]


def _task_result(out):
    """What the Task Manager stores as the task's result: metadata.json, read by its `meta-data` mapping."""
    (metadata,) = out.rglob("metadata.json")
    return {"synthesis": json.loads(metadata.read_text())}


def test_the_docker_task_of_the_shipped_workflow_runs_the_image_on_a_payload(image, study_of, tmp_path):
    out, export_conditions = _run_task(image, study_of("t1", "t1ce", "t2"), tmp_path)
    report = json.loads((out / "report.json").read_text())
    assert report["outcome"] == "synthesized" and report["scenario"] == "t1+t1ce+t2 -> flair"
    assert report["unreadable_files"] == [], "the gateway's .dcm.json sidecars are not taken for DICOM files"
    written = sorted(out.rglob("*.dcm"))
    assert written, "the export task sends the .dcm files of the output artifact"
    synthetic = pydicom.dcmread(written[0])
    assert "SYNTHETIC" in synthetic.SeriesDescription and synthetic.StudyInstanceUID == report["study_instance_uid"]
    assert holds(export_conditions, _task_result(out)), "the export task is dispatched"


def test_a_study_with_nothing_to_synthesize_ends_the_workflow_without_an_export(image, study_of, tmp_path):
    """An export task with no .dcm file to send ends Failed; the condition on the task's result skips it.

    The task here names its folders as older sample workflows do (env_MONAI_INPUTPATH, env_MONAI_OUTPUTPATH,
    env_MONAI_WORKDIR): the app reads them before the image's own HOLOSCAN_* defaults.
    """
    out, export_conditions = _run_task(image, study_of("t1", "t1ce", "t2", "flair"), tmp_path, legacy_names=True)
    assert json.loads((out / "report.json").read_text())["outcome"] == "skipped"
    assert not list(out.rglob("*.dcm"))
    assert not holds(export_conditions, _task_result(out)), "no export task: the workflow ends Succeeded"
