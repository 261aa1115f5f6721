"""The rules a MONAI Deploy Workflow Manager (MWM) workflow definition must pass, in plain Python.

Each rule is a function `rule(workflow) -> list[str]` over the parsed workflow JSON; every error names the task id
and the field, and copies the C# message where there is one. Sources, all in Project-MONAI/monai-deploy-workflow-manager
at commit 9e10e9506619ce810a3c47f82ec031fcf8e1f480 (2025-03-26, the newest there is):

- `SERVER_RULES`: `src/WorkflowManager/WorkflowManager/Validators/WorkflowValidator.cs`, with the task types of
  `src/Common/Miscellaneous/ValidationConstants.cs` and the Argo keys of `src/Common/Configuration/ArgoParameters.cs`.
  `POST /workflows` and `POST /workflows/validate` answer 400 with these messages joined by ';'.
- `PLUGIN_RULES`: `src/TaskManager/Plug-ins/Docker/DockerPlugin.cs` (`ValidateEvent`, `Initialize`,
  `BuildContainerSpecification`) and `Keys.cs`. The server accepts such a workflow; the task fails when dispatched.
- `RUNTIME_RULES`: accepted by the server, failing or silently false when the workflow runs. Artifact values:
  `src/WorkflowManager/WorkflowExecuter/Common/ArtifactMapper.cs`; conditions: `src/WorkflowManager/ConditionsResolver/`
  (`Parser/ConditionalParameterParser.cs`, `Resovler/Conditional.cs`, `Resovler/ConditionalGroup.cs`); and two checks
  that `WorkflowValidator.cs` made until commit ed6541b8 ("Ac 1068 take2 (#626)", 2022-12-20) removed them: each task
  destination exists, no task path loops.
- `SPEC_RULES`: length limits and JSON types of `guidelines/mwm-workflow-spec.md` that the server does not check.

Not mirrored, since they need the server's state: a workflow of the same name must not exist yet; each `data_origins`
entry must be a source registered with the Informatics Gateway; an email task's `metadata_values` against the
server's `DicomTagsDisallowed` setting and the DICOM dictionary. Approximated: e-mail address syntax (.NET's
`MailAddress`) and `remote_app_execution` output types (an enum of the Monai.Deploy.Messaging package).
"""

from __future__ import annotations

import re

from deploy.workflow_access import (
    _TASK_ID,
    AE_TITLE_MAX,
    ARGO_KEYS,
    DOCKER_REQUIRED_ARGS,
    EXPORT_LIKE_TYPES,
    REVIEWABLE_TYPES,
    VALID_TASK_TYPES,
    Rule,
    _args,
    _artifacts,
    _destinations,
    _get,
    _id,
    _list,
    _split_list,
    _tasks,
    _text,
    _type,
)
from deploy.workflow_rules_docker import (
    docker_container_spec,
    docker_mount_paths,
    docker_required_args,
    docker_server_url,
    docker_storage_mappings,
    docker_task_timeout,
)
from deploy.workflow_rules_runtime import (
    artifact_references,
    artifact_value_form,
    condition_syntax,
    json_types,
    no_cycles,
    spec_lengths,
    task_destinations_exist,
)

__all__ = ["DOCKER_REQUIRED_ARGS", "Rule", "docker_container_spec", "validate"]


# ---- WorkflowValidator.cs -------------------------------------------------------------------------------------------
def workflow_name(workflow: dict) -> list[str]:
    return [] if _text(_get(workflow, "name")).strip() else ["Missing Workflow Name."]


def workflow_version(workflow: dict) -> list[str]:
    return [] if _text(_get(workflow, "version")).strip() else ["Missing Workflow Version."]


def informatics_gateway(workflow: dict) -> list[str]:
    gateway = _get(workflow, "informatics_gateway")
    if not isinstance(gateway, dict):
        return ["Missing InformaticsGateway section."]
    ae_title = _text(_get(gateway, "ae_title"))
    if not ae_title.strip() or len(ae_title) > AE_TITLE_MAX:
        return ["AeTitle is required in the InformaticsGateaway section and must be under 16 characters."]
    return []


def tasks_present(workflow: dict) -> list[str]:
    return [] if _tasks(workflow) else ["Workflow does not contain Tasks, please review Workflow."]


def task_id_characters(workflow: dict) -> list[str]:
    return [f"TaskId: '{_id(t)}' Contains Invalid Characters." for t in _tasks(workflow) if not _TASK_ID.match(_id(t))]


def unique_task_ids(workflow: dict) -> list[str]:
    ids = [_id(task) for task in _tasks(workflow)]
    return [f"Found duplicate task id '{task_id}'" for task_id in ids if ids.count(task_id) > 1]


def no_destination_to_root(workflow: dict) -> list[str]:
    tasks = _tasks(workflow)
    root = _id(tasks[0]) if tasks else None
    return [
        f"Converging Tasks Destinations in task: {_id(task)} on root task: {root}"
        for task in tasks
        if root in _destinations(task, "task_destinations")
    ]


def no_converging_destinations(workflow: dict) -> list[str]:
    """A task can be the destination of one task only, once (`each task can only be triggered once`)."""
    tasks = _tasks(workflow)
    named = [name for task in tasks for name in _destinations(task, "task_destinations")]
    errors = []
    for name in dict.fromkeys(n for n in named if named.count(n) > 1):
        sources = ", ".join(_id(t) for t in tasks if name in _destinations(t, "task_destinations"))
        errors.append(f"Converging Tasks Destinations in tasks: ({sources}) on task: {name}")
    return errors


def no_unreferenced_tasks(workflow: dict) -> list[str]:
    tasks = _tasks(workflow)
    if not tasks:
        return []
    named = {name for task in tasks for name in _destinations(task, "task_destinations")}
    orphans = [i for i in dict.fromkeys(_id(t) for t in tasks if _id(t) != _id(tasks[0])) if i not in named]
    return [f"Found Task(s) without any task destinations to it: {', '.join(orphans)}"] if orphans else []


def unique_output_names(workflow: dict) -> list[str]:
    errors = []
    for task in _tasks(workflow):
        names = [_get(artifact, "name") for artifact in _artifacts(task, "output")]
        if len(names) != len(set(map(str, names))):
            errors.append(f"Task: '{_id(task)}' has multiple output names with the same value.")
    return errors


def known_task_type(workflow: dict) -> list[str]:
    return [
        f"Task: '{_id(task)}' has an invalid type, please specify: {', '.join(VALID_TASK_TYPES)}"
        for task in _tasks(workflow)
        if _type(task) not in VALID_TASK_TYPES
    ]


def input_artifacts(workflow: dict) -> list[str]:
    """Every task but a router needs input artifacts, each with a name and a value (`ValidateInputs`)."""
    errors = []
    for task in _tasks(workflow):
        if _type(task) not in VALID_TASK_TYPES or _type(task) == "router":
            continue
        inputs = _artifacts(task, "input")
        if not inputs:
            errors.append(f"Task: '{_id(task)}' must have Input Artifacts specified.")
            continue
        for field in ("Name", "Value"):
            if any(not _text(_get(artifact, field.lower())).strip() for artifact in inputs):
                errors.append(f"Task: '{_id(task)}' Input Artifacts must have a {field}.")
    return errors


def export_destinations_present(workflow: dict) -> list[str]:
    errors = []
    for task in (t for t in _tasks(workflow) if _type(t) in EXPORT_LIKE_TYPES):
        names = _destinations(task, "export_destinations")
        if not names:
            errors.append(f"Task: '{_id(task)}' does not contain a destination.")
        if len(names) != len(set(names)):
            errors.append(f"Task: '{_id(task)}' contains duplicate destinations.")
    return errors


def export_destinations_registered(workflow: dict) -> list[str]:
    """Each task's export_destinations must be listed in informatics_gateway.export_destinations."""
    registered = _list(_get(_get(workflow, "informatics_gateway"), "export_destinations"))
    errors = []
    for task in _tasks(workflow):
        names = _destinations(task, "export_destinations")
        if names and not registered:
            errors.append("InformaticsGateway ExportDestinations destinations can not be null with an Export Task.")
        errors += [
            f"Task: '{_id(task)}' export_destination: '{name}' must be registered in the informatics_gateway object."
            for name in dict.fromkeys(names)
            if name not in registered
        ]
    return errors


def remote_app_outputs(workflow: dict) -> list[str]:
    errors = []
    for task in (t for t in _tasks(workflow) if _type(t) == "remote_app_execution"):
        outputs = _artifacts(task, "output")
        untyped = [_text(_get(o, "name")) for o in outputs if _text(_get(o, "type")).lower() in ("", "unset")]
        if not outputs:
            errors.append(f"Task: '{_id(task)}' must contain at lease a single output.")
        elif untyped:
            errors.append(
                f"Task: '{_id(task)}' has incorrect artifact output types set on artifacts with following name. "
                + ", ".join(untyped)
            )
    return errors


def argo_args(workflow: dict) -> list[str]:
    errors = []
    for task in (t for t in _tasks(workflow) if _type(t) == "argo"):
        args, task_id = _args(task), _id(task)
        if "workflow_template_name" not in args:
            errors.append(
                f"Task: '{task_id}' workflow_template_name must be specified, "
                "this corresponds to an Argo template name."
            )
        invalid = [key for key in args if key not in ARGO_KEYS]
        if invalid:
            errors.append(
                f"Task: '{task_id}' args has invalid keys: {', '.join(invalid)}. "
                f"Please only specify keys from the following list: {', '.join(ARGO_KEYS)}."
            )
            continue
        if "priority" in args and _text(args["priority"]).lower() not in ("high", "standard", "low"):
            errors.append(f'Task: \'{task_id}\' TaskPriorityClassName must be one of "high", "standard" or "low"')
        if "cpu" in args and not _whole_number_or_unparsable(_text(args["cpu"])):
            errors.append(
                f"Task: '{task_id}' value '{args['cpu']}' provided for argument 'cpu' is not valid. "
                "The value needs to be a whole number greater than 0."
            )
        if "gpu_required" in args and _text(args["gpu_required"]).strip().lower() not in ("true", "false"):
            errors.append(
                f"Task: '{task_id}' value '{args['gpu_required']}' provided for argument 'gpu_required' is not valid. "
                "The value needs to be 'true' or 'false'."
            )
    return errors


def _whole_number_or_unparsable(value: str) -> bool:
    """The C# test: empty is wrong; a number below 1 or with a fraction is wrong; text that is no number passes."""
    if not value:
        return False
    try:
        number = float(value)
    except ValueError:
        return True
    return number >= 1 and number == int(number)


def clinical_review_args(workflow: dict) -> list[str]:
    tasks, errors = _tasks(workflow), []
    for task in (t for t in tasks if _type(t) == "aide_clinical_review"):
        args, task_id = _args(task), _id(task)
        errors += [
            f"Task: '{task_id}' {key} must be specified."
            for key in ("application_name", "application_version")
            if key not in args
        ]
        if _text(args.get("mode")).lower() not in ("qa", "research", "clinical"):
            errors.append(
                f"Task: '{task_id}' mode is incorrectly specified, please specify 'QA', 'Research' or 'Clinical'"
            )
        reviewed = _text(args.get("reviewed_task_id")) if "reviewed_task_id" in args else None
        if reviewed is None:
            errors.append(f"Task: '{task_id}' reviewed_task_id must be specified.")
        else:
            target = next((t for t in tasks if _id(t).lower() == reviewed.lower()), None)
            if target is None:
                errors.append(f"Task: '{task_id}' reviewed_task_id: '{reviewed}' could not be found in the workflow.")
            if target is None or _type(target) not in REVIEWABLE_TYPES:
                errors.append(
                    f"Task: '{task_id}' reviewed_task_id: '{reviewed}' does not reference an accepted reviewable task "
                    f"type. ({', '.join(REVIEWABLE_TYPES)})"
                )
        if "notifications" not in args:
            errors.append(f"Task: '{task_id}' notifications must be specified.")
        elif _text(args["notifications"]).lower() not in ("true", "false"):
            errors.append(f"Task: '{task_id}' notifications is incorrectly specified, please specify 'true' or 'false'")
        for artifact in _artifacts(task, "input"):
            name, value = _text(_get(artifact, "name")), _text(_get(artifact, "value"))
            parts = value.split(".")
            if "context.input.dicom" in value:
                continue
            if len(parts) < 3:
                errors.append(
                    f"Invalid Value property on input artifact '{name}' in task: '{task_id}'. Incorrect format."
                )
            elif parts[2] == task_id:
                errors.append(
                    f"Invalid Value property on input artifact '{name}' in task: '{task_id}'. Self referencing task ID."
                )
            elif not any(_id(t) == parts[2] for t in tasks):
                errors.append(
                    f"Invalid input artifact '{name}' in task '{task_id}': No matching task for ID '{parts[2]}'"
                )
            elif reviewed is not None and parts[2].lower() != reviewed.lower():
                errors.append(
                    f"Invalid input artifact '{name}' in task '{task_id}': "
                    f"Task cannot reference a non-reviewed task artifacts '{parts[2]}'"
                )
    return errors


def email_args(workflow: dict) -> list[str]:
    errors = []
    for task in (t for t in _tasks(workflow) if _type(t) == "email"):
        args, task_id = _args(task), _id(task)
        if "recipient_emails" not in args and "recipient_roles" not in args:
            errors.append(
                f"No recipients arguments specified for task {task_id}. Email tasks must specify at least one of the "
                "following properties: recipient_emails, recipient_roles"
            )
            continue
        emails = _split_list(args.get("recipient_emails"))
        if "recipient_emails" in args and not emails:
            errors.append(
                f"Argument 'recipient_emails' for task {task_id} must be a comma seperated list of email addresses."
            )
            continue
        invalid = [e for e in emails if e.endswith(".") or not re.fullmatch(r"[^@\s]+@[^@\s]+", e)]
        if invalid:
            errors.append(
                f"Argument 'recipient_emails' for task: {task_id} contains email addresses that do not conform to the "
                "standard email format:\n" + "\n".join(invalid)
            )
        if "recipient_roles" in args and not _split_list(args["recipient_roles"]):
            errors.append(f"Argument 'recipient_roles' for task {task_id} must be a comma seperated list of roles.")
            continue
        if "metadata_values" not in args:
            errors.append(f"Argument 'metadata_values' for task {task_id} must be specified")
        elif not _split_list(args["metadata_values"]):
            errors.append(
                f"Argument 'metadata_values' for task {task_id} "
                "must be a comma seperated list of DICOM metadata tag names."
            )
    return errors


SERVER_RULES: tuple[Rule, ...] = (
    workflow_name,
    workflow_version,
    informatics_gateway,
    tasks_present,
    task_id_characters,
    unique_task_ids,
    no_destination_to_root,
    no_converging_destinations,
    no_unreferenced_tasks,
    unique_output_names,
    known_task_type,
    input_artifacts,
    export_destinations_present,
    export_destinations_registered,
    remote_app_outputs,
    argo_args,
    clinical_review_args,
    email_args,
)
PLUGIN_RULES: tuple[Rule, ...] = (
    docker_required_args,
    docker_server_url,
    docker_storage_mappings,
    docker_mount_paths,
    docker_task_timeout,
)
RUNTIME_RULES: tuple[Rule, ...] = (
    artifact_value_form,
    artifact_references,
    task_destinations_exist,
    no_cycles,
    condition_syntax,
)
SPEC_RULES: tuple[Rule, ...] = (spec_lengths, json_types)
ALL_RULES = SERVER_RULES + PLUGIN_RULES + RUNTIME_RULES + SPEC_RULES


def validate(workflow: dict, rules: tuple[Rule, ...] = ALL_RULES) -> list[str]:
    """Every error of every rule, in rule order; an empty list means the workflow passes them all."""
    return [error for rule in rules for error in rule(workflow)]
