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


# ---- accepted by the server, wrong at run time --------------------------------------------------------------------
def _upstream(workflow: dict, task_id: str) -> set[str]:
    """The tasks from which a chain of task_destinations leads to `task_id`."""
    parents = {}
    for task in _tasks(workflow):
        for name in _destinations(task, "task_destinations"):
            parents.setdefault(name, set()).add(_id(task))
    seen, todo = set(), [task_id]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def artifact_value_form(workflow: dict) -> list[str]:
    """`ArtifactMapper` splits a value on ' ' and reads the second piece, so the spaces inside the braces matter; it
    takes a suffix from between the two closing braces, so a suffix after `}}` is dropped: refused here."""
    errors = []
    for task in _tasks(workflow):
        for direction in ("input", "output"):
            for artifact in _artifacts(task, direction):
                value = _text(_get(artifact, "value"))
                if value.strip() and not _ARTIFACT_VALUE.match(value):
                    errors.append(
                        f"Task: '{_id(task)}' {direction} artifact '{_get(artifact, 'name')}' value '{value}' is not "
                        "one of '{{ context.input.dicom }}', '{{ context.executions.TASK_ID.artifacts.NAME }}', "
                        "'{{ context.executions.TASK_ID.output_dir }}'."
                    )
    return errors


def artifact_references(workflow: dict) -> list[str]:
    """A referenced execution must be a task that runs before this one; a referenced artifact one of its outputs."""
    tasks = {_id(task): task for task in _tasks(workflow)}
    errors = []
    for task in _tasks(workflow):
        for artifact in _artifacts(task, "input"):
            match = _ARTIFACT_VALUE.match(_text(_get(artifact, "value")))
            if not match or not match["task"]:
                continue
            where = f"Task: '{_id(task)}' input artifact '{_get(artifact, 'name')}'"
            source = tasks.get(match["task"])
            if source is None:
                errors.append(f"{where} refers to task '{match['task']}' which is not in the workflow.")
            elif match["task"] not in _upstream(workflow, _id(task)):
                errors.append(f"{where} refers to task '{match['task']}' which does not run before it.")
            elif match["name"] and match["name"] not in [_get(o, "name") for o in _artifacts(source, "output")]:
                errors.append(f"{where} refers to '{match['name']}', not an output artifact of task '{match['task']}'.")
    return errors


def task_destinations_exist(workflow: dict) -> list[str]:
    ids = {_id(task) for task in _tasks(workflow)}
    return [
        f"Task: '{_id(task)}' has task destination: '{name}' that could not be found."
        for task in _tasks(workflow)
        for name in _destinations(task, "task_destinations")
        if name not in ids
    ]


def no_cycles(workflow: dict) -> list[str]:
    graph = {_id(task): _destinations(task, "task_destinations") for task in _tasks(workflow)}
    errors, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            loop = path[path.index(node) :] + [node]
            errors.append(f"Detected task convergence on path: {' => '.join(loop)} => ∞")
            return
        if node in done:
            return
        for child in graph.get(node, ()):
            visit(child, path + [node])
        done.add(node)

    for node in graph:
        visit(node, [])
    return errors


def condition_syntax(workflow: dict) -> list[str]:
    """A condition the resolver cannot parse is false, silently (`ConditionalParameterParser.TryParse`)."""
    task_ids = {_id(task) for task in _tasks(workflow)}
    places = [("Workflow predicate", c) for c in _list(_get(workflow, "predicate"))]
    for task in _tasks(workflow):
        for destination in _list(_get(task, "task_destinations")):
            where = f"Task: '{_id(task)}' task_destination '{_text(_get(destination, 'name'))}' condition"
            places += [(where, condition) for condition in _list(_get(destination, "conditions"))]
    return [
        f"{where} {condition!r}: {problem}"
        for where, condition in places
        for problem in _condition_problems(_text(condition), task_ids)
    ]


def _condition_problems(condition: str, task_ids: set[str]) -> list[str]:
    problems = []
    for match in _PARAMETER.finditer(condition):
        parameter = match[1].strip()
        form = next((f.fullmatch(parameter) for f in _PARAMETER_FORMS if f.fullmatch(parameter)), None)
        if form is None:
            problems.append(f"unknown parameter '{{{{ {parameter} }}}}'")
        elif "task" in form.groupdict() and form["task"] not in task_ids:
            problems.append(f"parameter '{{{{ {parameter} }}}}' names task '{form['task']}', not in the workflow")
    text = _PARAMETER.sub("'X'", condition)
    if "{{" in text or "}}" in text:
        return problems + ["unbalanced '{{' and '}}'"]
    if text.count("'") % 2:
        return problems + ["a quote is not closed"]
    masked = re.sub(r"'[^']*'", "Q", text)
    masked = re.sub(r"\[[^\[\]]*\]", "Q", masked)
    if "[" in masked or "]" in masked:
        return problems + ["unbalanced '[' and ']'"]
    if masked.count("(") != masked.count(")"):
        return problems + ["unbalanced '(' and ')'"]
    flat = re.sub(r"(==|!=|<=|>=|=<|=>|<|>)", r" \1 ", masked.replace("(", " ").replace(")", " "))
    for number, clause in enumerate(re.split(r"\s(?:and|or)\s", f" {flat} ", flags=re.IGNORECASE), start=1):
        tokens = clause.split()
        operands_ok = len(tokens) == 3 and all(t == "Q" or t.upper() in ("NULL", "UNDEFINED") for t in tokens[::2])
        if not (operands_ok and _OPERATOR.match(tokens[1])):
            problems.append(
                f"clause {number} is not <value> <operator> <value> (values quoted, [arrays] or NULL; operators "
                "==, !=, <, >, <=, >=, CONTAINS, NOT_CONTAINS; clauses joined by AND / OR)"
            )
    return problems


# ---- guidelines/mwm-workflow-spec.md --------------------------------------------------------------------------------
def spec_lengths(workflow: dict) -> list[str]:
    """The spec's `str (N)` limits: name 15, description 200; task id 50, description and type 2000."""
    checks = [
        ("Workflow", "name", _get(workflow, "name"), 15),
        ("Workflow", "description", _get(workflow, "description"), 200),
    ]
    for task in _tasks(workflow):
        checks += [
            (f"Task: '{_id(task)}'", f, _get(task, f), n)
            for f, n in (("id", 50), ("description", 2000), ("type", 2000))
        ]
    return [
        f"{where} {field} has {len(value)} characters: the spec allows {limit}."
        for where, field, value, limit in checks
        if isinstance(value, str) and len(value) > limit
    ]


def json_types(workflow: dict) -> list[str]:
    """The types the server binds to: strings, lists of objects, args a string-to-string dictionary."""
    errors = [
        f"Workflow {f} must be a string."
        for f in ("name", "version", "description")
        if _get(workflow, f) is not None and not isinstance(_get(workflow, f), str)
    ]
    if not isinstance(_get(workflow, "tasks", []), list):
        errors.append("Workflow tasks must be a list of task objects.")
    for task in _tasks(workflow):
        where = f"Task: '{_id(task)}'"
        args = _get(task, "args", {})
        if not isinstance(args, dict):
            errors.append(f"{where} args must be an object.")
        else:
            errors += [
                f"{where} args '{key}' must be a string." for key, value in args.items() if not isinstance(value, str)
            ]
        for field in ("task_destinations", "export_destinations"):
            entries = _get(task, field, [])
            if not isinstance(entries, list) or not all(isinstance(_get(e, "name"), str) for e in entries):
                errors.append(f"{where} {field} must be a list of objects with a string name.")
        for destination in _list(_get(task, "task_destinations")):
            conditions = _get(destination, "conditions", [])
            if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
                errors.append(f"{where} conditions of '{_get(destination, 'name')}' must be a list of strings.")
        timeout = _get(task, "timeout_minutes", -1)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            errors.append(f"{where} timeout_minutes must be a number.")
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
