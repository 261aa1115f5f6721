"""Reading a Workflow Manager workflow: its constants (from the C# sources named in `workflow_rules`) and tolerant
accessors that the rule modules share."""

from __future__ import annotations

import re
from collections.abc import Callable

Rule = Callable[[dict], list[str]]

VALID_TASK_TYPES = (
    "argo",
    "aide_clinical_review",
    "router",
    "export",
    "docker",
    "email",
    "remote_app_execution",
    "export_hl7",
)
EXPORT_LIKE_TYPES = ("export", "export_hl7", "remote_app_execution")  # ValidateExportTask / HL7 / ExternalApp
REVIEWABLE_TYPES = ("argo", "remote_app_execution")  # ValidationConstants.AcceptableTasksToReview
ARGO_KEYS = (  # ArgoParameters.VaildParameters
    "namespace",
    "server_url",
    "allow_insecure",
    "workflow_template_name",
    "timeoutSeconds",
    "apiToken",
    "endpoint",
    "username",
    "password",
    "exchange",
    "virtualHost",
    "resources",
    "parameters",
    "priority",
    "cpu",
    "memory",
    "gpu_required",
)
DOCKER_REQUIRED_ARGS = ("server_url", "entrypoint", "command", "container_image", "temp_storage_container_path")
DOCKER_ENV_PREFIX = "env_"
DOCKER_WORKDIR_ARG = "env_MONAI_WORKDIR"  # the one argument name the plugin itself knows: a scratch volume
DOCKER_RUNTIME = "nvidia"  # Strings.RuntimeNvidia, set on every container (HostConfig.Runtime)
AE_TITLE_MAX = 15

_TASK_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # WorkflowValidator: @"^[a-zA-Z0-9-_]+$"
_ARTIFACT_VALUE = re.compile(
    r"^\{\{ context\.(?:input\.dicom|executions\.(?P<task>[^.\s{}]+)\.(?:output_dir|artifacts\.(?P<name>[^.\s{}]+)))"
    r" \}\}$"
)
_PARAMETER = re.compile(r"\{\{(.*?)\}\}")
_PARAMETER_FORMS = (
    re.compile(r"context\.dicom\.series\.(?:any|all)\(\s*'[0-9A-Fa-f]{4}'\s*,\s*'[0-9A-Fa-f]{4}'\s*\)"),
    re.compile(
        r"context\.executions\.(?P<task>[^.\s]+)\.(?i:task_id|status|execution_id|output_dir|task_type|"
        r"previous_task_id|error_msg|start_time|end_time|(?:result|execution_stats)\.\S+)"
    ),
    re.compile(r"context\.input\.patient_details\.(?:id|name|sex|dob|age|hospital_id)"),
    re.compile(r"context\.workflow\.(?:name|description)"),
)
_OPERATOR = re.compile(r"^(?:==|!=|<=|>=|=<|=>|<|>|(?i:contains|not_contains))$")


# Access that tolerates any JSON: the server binds property names case-insensitively (Newtonsoft), args keys not.
def _get(obj: object, key: str, default: object = None) -> object:
    if not isinstance(obj, dict):
        return default
    if key in obj:
        return obj[key]
    return next((value for name, value in obj.items() if str(name).lower() == key.lower()), default)


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _tasks(workflow: dict) -> list[dict]:
    return [task for task in _list(_get(workflow, "tasks")) if isinstance(task, dict)]


def _id(task: dict) -> str:
    return _text(_get(task, "id"))


def _type(task: dict) -> str:
    return _text(_get(task, "type")).lower()


def _args(task: dict) -> dict:
    args = _get(task, "args")
    return args if isinstance(args, dict) else {}


def _artifacts(task: dict, direction: str) -> list[dict]:
    return [a for a in _list(_get(_get(task, "artifacts"), direction)) if isinstance(a, dict)]


def _destinations(task: dict, field: str) -> list[str]:
    return [_text(_get(d, "name")) for d in _list(_get(task, field)) if isinstance(d, dict)]


def _split_list(value: object) -> list[str]:
    return [item.strip() for item in _text(value).split(",") if item.strip()]
