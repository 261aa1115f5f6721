"""The rules of the Workflow Manager's docker task plugin (`DockerPlugin.cs`, `Keys.cs`), checked when a task is
dispatched, and the container it asks Docker for."""

from __future__ import annotations

import re

from deploy.workflow_access import (
    DOCKER_ENV_PREFIX,
    DOCKER_REQUIRED_ARGS,
    DOCKER_RUNTIME,
    DOCKER_WORKDIR_ARG,
    _args,
    _artifacts,
    _get,
    _id,
    _tasks,
    _text,
    _type,
)


# ---- DockerPlugin.cs: checked when the task is dispatched ---------------------------------------------------------
def _docker_tasks(workflow: dict) -> list[dict]:
    return [task for task in _tasks(workflow) if _type(task) == "docker"]


def docker_required_args(workflow: dict) -> list[str]:
    """`ValidateEvent`: `Keys.RequiredParameters` (the plugin's message says Argo; it is the docker plugin's)."""
    return [
        f"Task: '{_id(task)}' Required parameter to execute Argo workflow is missing: {key}"
        for task in _docker_tasks(workflow)
        for key in DOCKER_REQUIRED_ARGS
        if key not in _args(task)
    ]


def docker_server_url(workflow: dict) -> list[str]:
    """`Uri.IsWellFormedUriString(server_url, UriKind.Absolute)`: a scheme, then no blank (`unix:///var/run/docker.sock`)."""
    errors = []
    for task in _docker_tasks(workflow):
        url = _args(task).get("server_url")
        if url is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", _text(url)):
            errors.append(f"Task: '{_id(task)}' The value '{url}' provided for 'server_url' is not a valid URI.")
    return errors


def docker_storage_mappings(workflow: dict) -> list[str]:
    """Each input and output artifact is mounted at the path held by the argument of the artifact's name."""
    return [
        f"Task: '{_id(task)}' The mapping for storage '{name}' is not defined as an envrionment variable."
        for task in _docker_tasks(workflow)
        for name in (_text(_get(a, "name")) for a in _artifacts(task, "input") + _artifacts(task, "output"))
        if name not in _args(task)
    ]


def docker_mount_paths(workflow: dict) -> list[str]:
    """Mount targets are bind-mount targets in the container: Docker refuses a relative one."""
    errors = []
    for task in _docker_tasks(workflow):
        args = _args(task)
        names = [_text(_get(a, "name")) for a in _artifacts(task, "input") + _artifacts(task, "output")]
        for name in dict.fromkeys(n for n in names + [DOCKER_WORKDIR_ARG] if n in args):
            if not _text(args[name]).startswith("/"):
                errors.append(f"Task: '{_id(task)}' args '{name}': mount path '{args[name]}' is not an absolute path.")
    return errors


def docker_task_timeout(workflow: dict) -> list[str]:
    """`Initialize`: task_timeout_minutes that `int.TryParse` refuses becomes 5 minutes, silently."""
    return [
        f"Task: '{_id(task)}' task_timeout_minutes '{_args(task)['task_timeout_minutes']}' is not a whole number: "
        "the docker plugin would stop watching the container after 5 minutes."
        for task in _docker_tasks(workflow)
        if "task_timeout_minutes" in _args(task)
        and not re.fullmatch(r"\s*[+-]?\d+\s*", _text(_args(task)["task_timeout_minutes"]))
    ]


def docker_container_spec(task: dict) -> dict:
    """What `DockerPlugin.BuildContainerSpecification` asks Docker for, given a docker task of a workflow.

    Entrypoint and command are split on ',' and both always replace the image's; each `env_X` argument becomes the
    variable X (every `env_` in the key is removed); each input artifact is bind-mounted read-only, each output
    read-write, at the path of the argument named like the artifact; `env_MONAI_WORKDIR` adds a read-write scratch
    mount whose files are uploaded too. Every container gets the `nvidia` runtime. An input with no file in storage
    is not mounted at all.
    """
    args = _args(task)
    mounts = [(args.get(_text(_get(a, "name"))), True) for a in _artifacts(task, "input")]
    mounts += [(args.get(_text(_get(a, "name"))), False) for a in _artifacts(task, "output")]
    if DOCKER_WORKDIR_ARG in args:
        mounts.append((args[DOCKER_WORKDIR_ARG], False))
    return {
        "Image": args.get("container_image"),
        "Entrypoint": _text(args.get("entrypoint")).split(","),
        "Cmd": _text(args.get("command")).split(","),
        "Env": {key.replace(DOCKER_ENV_PREFIX, ""): value for key, value in args.items() if key.startswith("env_")},
        "Mounts": [{"Target": target, "ReadOnly": read_only} for target, read_only in mounts],
        "Runtime": DOCKER_RUNTIME,
        "User": args.get("user"),
    }
