"""The shipped MONAI Deploy Workflow Manager workflow (`deploy/workflow-manager/brain-mr-synthesis.json`) passes the
Workflow Manager's rules (`deploy/workflow_rules.py`), each rule rejects the mistake it is about, and the docker task
starts this node's image the way the image and the application expect. No network, no container."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from app.task_metadata import NONE, task_metadata_requested
from deploy import workflow_conditions
from deploy import workflow_rules as rules

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PATH = ROOT / "deploy" / "workflow-manager" / "brain-mr-synthesis.json"


@pytest.fixture
def workflow() -> dict:
    return json.loads(WORKFLOW_PATH.read_text())


def task(workflow: dict, task_id: str) -> dict:
    return next(t for t in workflow["tasks"] if t["id"] == task_id)


def synthesis_args(workflow: dict) -> dict:
    return task(workflow, "synthesis")["args"]


def export_input(workflow: dict) -> dict:
    return task(workflow, "export-synthetic")["artifacts"]["input"][0]


# (rule, what the mistake is, how to make it, a part of the error the rule must give)
Mutation = tuple[rules.Rule, str, Callable[[dict], object], str]
MUTATIONS: list[Mutation] = [
    (rules.workflow_name, "blank name", lambda w: w.update(name=" "), "Missing Workflow Name."),
    (rules.workflow_version, "no version", lambda w: w.pop("version"), "Missing Workflow Version."),
    (rules.informatics_gateway, "no gateway", lambda w: w.pop("informatics_gateway"), "Missing InformaticsGateway"),
    (
        rules.informatics_gateway,
        "AE title of 16 characters",
        lambda w: w["informatics_gateway"].update(ae_title="MONAI-DEPLOY-SYN"),
        "AeTitle is required in the InformaticsGateaway section and must be under 16 characters.",
    ),
    (rules.tasks_present, "no task", lambda w: w.update(tasks=[]), "Workflow does not contain Tasks"),
    (
        rules.task_id_characters,
        "a blank in a task id",
        lambda w: task(w, "export-synthetic").update(id="export synthetic"),
        "TaskId: 'export synthetic' Contains Invalid Characters.",
    ),
    (
        rules.unique_task_ids,
        "two tasks with one id",
        lambda w: task(w, "export-synthetic").update(id="synthesis"),
        "Found duplicate task id 'synthesis'",
    ),
    (
        rules.no_destination_to_root,
        "a destination back to the router",
        lambda w: task(w, "export-synthetic").update(task_destinations=[{"name": "router"}]),
        "Converging Tasks Destinations in task: export-synthetic on root task: router",
    ),
    (
        rules.no_converging_destinations,
        "two tasks leading to the export",
        lambda w: task(w, "router")["task_destinations"].append({"name": "export-synthetic"}),
        "Converging Tasks Destinations in tasks: (router, synthesis) on task: export-synthetic",
    ),
    (
        rules.no_unreferenced_tasks,
        "nothing leads to the export",
        lambda w: task(w, "synthesis").update(task_destinations=[]),
        "Found Task(s) without any task destinations to it: export-synthetic",
    ),
    (
        rules.unique_output_names,
        "two outputs of one name",
        lambda w: task(w, "synthesis")["artifacts"]["output"].append({"name": "env_HOLOSCAN_OUTPUT_PATH"}),
        "Task: 'synthesis' has multiple output names with the same value.",
    ),
    (
        rules.known_task_type,
        "an unknown task type",
        lambda w: task(w, "synthesis").update(type="kubernetes"),
        "Task: 'synthesis' has an invalid type, please specify: argo, aide_clinical_review, router, export, docker",
    ),
    (
        rules.input_artifacts,
        "an export without input",
        lambda w: task(w, "export-synthetic")["artifacts"].update(input=[]),
        "Task: 'export-synthetic' must have Input Artifacts specified.",
    ),
    (
        rules.input_artifacts,
        "an input without value",
        lambda w: export_input(w).update(value=""),
        "Task: 'export-synthetic' Input Artifacts must have a Value.",
    ),
    (
        rules.export_destinations_present,
        "an export without destination",
        lambda w: task(w, "export-synthetic").update(export_destinations=[]),
        "Task: 'export-synthetic' does not contain a destination.",
    ),
    (
        rules.export_destinations_present,
        "one destination twice",
        lambda w: task(w, "export-synthetic")["export_destinations"].append({"name": "ORTHANC"}),
        "Task: 'export-synthetic' contains duplicate destinations.",
    ),
    (
        rules.export_destinations_registered,
        "a destination the gateway section does not list",
        lambda w: task(w, "export-synthetic").update(export_destinations=[{"name": "PACS"}]),
        "Task: 'export-synthetic' export_destination: 'PACS' must be registered in the informatics_gateway object.",
    ),
    (
        rules.export_destinations_registered,
        "a gateway section without destinations",
        lambda w: w["informatics_gateway"].update(export_destinations=[]),
        "InformaticsGateway ExportDestinations destinations can not be null with an Export Task.",
    ),
    (
        rules.remote_app_outputs,
        "a remote app without output",
        lambda w: task(w, "export-synthetic").update(type="remote_app_execution"),
        "Task: 'export-synthetic' must contain at lease a single output.",
    ),
    (
        rules.argo_args,
        "an argo task without template",
        lambda w: task(w, "synthesis").update(type="argo", args={"namespace": "argo"}),
        "Task: 'synthesis' workflow_template_name must be specified",
    ),
    (
        rules.argo_args,
        "an argo task with docker arguments",
        lambda w: task(w, "synthesis").update(type="argo"),
        "Task: 'synthesis' args has invalid keys: container_image, entrypoint, command, user",
    ),
    (
        rules.argo_args,
        "half a CPU",
        lambda w: task(w, "synthesis").update(type="argo", args={"workflow_template_name": "t", "cpu": "0.5"}),
        "Task: 'synthesis' value '0.5' provided for argument 'cpu' is not valid.",
    ),
    (
        rules.clinical_review_args,
        "a clinical review without arguments",
        lambda w: task(w, "export-synthetic").update(type="aide_clinical_review", args={}),
        "Task: 'export-synthetic' application_name must be specified.",
    ),
    (
        rules.clinical_review_args,
        "a review of a docker task",
        lambda w: task(w, "export-synthetic").update(
            type="aide_clinical_review", args={"reviewed_task_id": "synthesis"}
        ),
        "Task: 'export-synthetic' reviewed_task_id: 'synthesis' does not reference an accepted reviewable task type.",
    ),
    (
        rules.email_args,
        "an email without recipients",
        lambda w: task(w, "export-synthetic").update(type="email"),
        "No recipients arguments specified for task export-synthetic.",
    ),
    (
        rules.email_args,
        "a recipient that is no address",
        lambda w: task(w, "export-synthetic").update(
            type="email", args={"recipient_emails": "radiology", "metadata_values": "StudyInstanceUID"}
        ),
        "Argument 'recipient_emails' for task: export-synthetic contains email addresses that do not conform",
    ),
    *[
        (
            rules.docker_required_args,
            f"no {key}",
            lambda w, key=key: synthesis_args(w).pop(key),
            f"Task: 'synthesis' Required parameter to execute Argo workflow is missing: {key}",
        )
        for key in rules.DOCKER_REQUIRED_ARGS
    ],
    (
        rules.docker_server_url,
        "a socket path without scheme",
        lambda w: synthesis_args(w).update(server_url="/var/run/docker.sock"),
        "Task: 'synthesis' The value '/var/run/docker.sock' provided for 'server_url' is not a valid URI.",
    ),
    (
        rules.docker_storage_mappings,
        "an output with no argument of its name",
        lambda w: synthesis_args(w).pop("env_HOLOSCAN_OUTPUT_PATH"),
        "Task: 'synthesis' The mapping for storage 'env_HOLOSCAN_OUTPUT_PATH' is not defined",
    ),
    (
        rules.docker_mount_paths,
        "a relative mount path",
        lambda w: synthesis_args(w).update(env_HOLOSCAN_INPUT_PATH="input"),
        "Task: 'synthesis' args 'env_HOLOSCAN_INPUT_PATH': mount path 'input' is not an absolute path.",
    ),
    (
        rules.docker_task_timeout,
        "a timeout with its unit",
        lambda w: synthesis_args(w).update(task_timeout_minutes="80 minutes"),
        "Task: 'synthesis' task_timeout_minutes '80 minutes' is not a whole number",
    ),
    (
        rules.artifact_value_form,
        "no blanks inside the braces",
        lambda w: export_input(w).update(value="{{context.executions.synthesis.artifacts.env_HOLOSCAN_OUTPUT_PATH}}"),
        "Task: 'export-synthetic' input artifact 'synthetic-dicom' value",
    ),
    (
        rules.artifact_value_form,
        "a suffix after the braces",
        lambda w: task(w, "synthesis")["artifacts"]["input"][0].update(value="{{ context.input.dicom }}/study"),
        "Task: 'synthesis' input artifact 'env_HOLOSCAN_INPUT_PATH' value '{{ context.input.dicom }}/study' is not",
    ),
    (
        rules.artifact_value_form,
        "an unknown context",
        lambda w: export_input(w).update(value="{{ context.output.dicom }}"),
        "value '{{ context.output.dicom }}' is not one of",
    ),
    (
        rules.artifact_references,
        "an artifact the task does not make",
        lambda w: export_input(w).update(value="{{ context.executions.synthesis.artifacts.report }}"),
        "Task: 'export-synthetic' input artifact 'synthetic-dicom' refers to 'report', not an output artifact",
    ),
    (
        rules.artifact_references,
        "a task that does not exist",
        lambda w: export_input(w).update(value="{{ context.executions.segment.output_dir }}"),
        "refers to task 'segment' which is not in the workflow.",
    ),
    (
        rules.artifact_references,
        "a task that runs later",
        lambda w: task(w, "synthesis")["artifacts"]["input"][0].update(
            value="{{ context.executions.export-synthetic.output_dir }}"
        ),
        "Task: 'synthesis' input artifact 'env_HOLOSCAN_INPUT_PATH' refers to task 'export-synthetic' which does not",
    ),
    (
        rules.task_destinations_exist,
        "a destination that is no task",
        lambda w: task(w, "synthesis").update(task_destinations=[{"name": "export"}]),
        "Task: 'synthesis' has task destination: 'export' that could not be found.",
    ),
    (
        rules.no_cycles,
        "the export leads back to the synthesis",
        lambda w: task(w, "export-synthetic").update(task_destinations=[{"name": "synthesis"}]),
        "Detected task convergence on path: synthesis => export-synthetic => synthesis => ∞",
    ),
    *[
        (
            rules.condition_syntax,
            mistake,
            lambda w, condition=condition: task(w, "router")["task_destinations"][0].update(conditions=[condition]),
            f"Task: 'router' task_destination 'synthesis' condition {condition!r}: {error}",
        )
        for mistake, condition, error in [
            (
                "a single '='",
                "{{ context.dicom.series.any('0008','0060') }} = 'MR'",
                "clause 1 is not <value> <operator> <value>",
            ),
            ("an unquoted value", "{{ context.dicom.series.any('0008','0060') }} == MR", "clause 1 is not <value>"),
            ("an unknown parameter", "{{ context.dicom.tags('0008','0060') }} == 'MR'", "unknown parameter"),
            ("an open array", "{{ context.dicom.series.any('0018','0015') }} CONTAINS ['HEAD'", "unbalanced '['"),
            ("an open quote", "{{ context.dicom.series.any('0008','0060') }} == 'MR", "a quote is not closed"),
            ("a trailing AND", "{{ context.dicom.series.any('0008','0060') }} == 'MR' AND", "clause 2 is not"),
            (
                "a missing task",
                "{{ context.executions.segment.status }} == 'Succeeded'",
                "parameter '{{ context.executions.segment.status }}' names task 'segment', not in the workflow",
            ),
        ]
    ],
    (
        rules.spec_lengths,
        "a name over 15 characters",
        lambda w: w.update(name="brain-mr-synthesis"),
        "Workflow name has 18 characters: the spec allows 15.",
    ),
    (
        rules.spec_lengths,
        "a task id over 50 characters",
        lambda w: task(w, "export-synthetic").update(id="x" * 51),
        f"Task: '{'x' * 51}' id has 51 characters: the spec allows 50.",
    ),
    (
        rules.json_types,
        "a number where the server binds a string",
        lambda w: synthesis_args(w).update(task_timeout_minutes=80),
        "Task: 'synthesis' args 'task_timeout_minutes' must be a string.",
    ),
]


def test_the_shipped_workflow_passes_every_rule(workflow):
    assert rules.validate(workflow) == []


@pytest.mark.parametrize(
    ("rule", "mutate", "expected"),
    [(rule, mutate, expected) for rule, _, mutate, expected in MUTATIONS],
    ids=[f"{rule.__name__}: {mistake}" for rule, mistake, _, _ in MUTATIONS],
)
def test_each_rule_rejects_its_mistake(workflow, rule, mutate, expected):
    mutated = copy.deepcopy(workflow)
    mutate(mutated)
    errors = rule(mutated)
    assert any(expected in error for error in errors), errors
    assert expected in "\n".join(rules.validate(mutated))


def test_every_rule_has_a_mistake_it_rejects():
    assert {rule.__name__ for rule in rules.ALL_RULES} == {rule.__name__ for rule, *_ in MUTATIONS}


def test_the_server_accepts_a_loop_that_no_task_leads_to(workflow):
    """The loop check went with commit ed6541b8; converging and unreferenced-task checks do not see this loop."""
    workflow["tasks"] += [
        {"id": "loop-a", "type": "router", "task_destinations": [{"name": "loop-b"}]},
        {"id": "loop-b", "type": "router", "task_destinations": [{"name": "loop-a"}]},
    ]
    assert rules.validate(workflow, rules.SERVER_RULES) == []
    assert rules.no_cycles(workflow) == ["Detected task convergence on path: loop-a => loop-b => loop-a => ∞"]


@pytest.mark.parametrize(
    "condition",
    [  # from guidelines/mwm-workflow-spec.md and the Workflow Manager's own tests
        "{{ context.dicom.series.all('0008','0060') }} == 'MR'",
        "{{context.dicom.series.all('0010','0040')}} == 'F' AND {{context.dicom.series.all('0010','0040')}} == 'M'",
        "{{context.dicom.series.any('0018','0050')}} < '5'",
        "{{context.dicom.series.all('0020','0037')}} CONTAINS '1'",
        "{{ context.dicom.series.any('0028','0102') }} NOT_CONTAINS ['-160', '100', '15']",
        "{{ context.executions.body_part_identifier.result.body_part }} == 'leg'",
        "{{ context.executions.task_id.result.exception }} == NULL",
        "{{ context.executions.task_id.status }} == 'Succeeded'",
        "{{context.input.patient_details.dob}} == '19/09/1996'",
        "{{context.workflow.name}} == 'workflowname'",
        "('TRUE' == 'TRUE' OR 'TRUE' == 'TRUE') OR ('TRUE' == 'TRUE' OR 'TRUE' == 'TRUE')",
        '\'lillie\' CONTAINS ["jack", "lillie", "neil"]',
    ],
)
def test_conditions_the_workflow_manager_documents_pass_the_syntax_check(workflow, condition):
    workflow["tasks"] += [{"id": "task_id", "type": "router"}, {"id": "body_part_identifier", "type": "router"}]
    task(workflow, "router")["task_destinations"][0]["conditions"] = [condition]
    assert rules.condition_syntax(workflow) == []


def test_the_router_sends_brain_mr_studies_only(workflow):
    """Modality MR on the first instance the server reads, BodyPartExamined HEAD or BRAIN (CONTAINS is membership)."""
    (destination,) = task(workflow, "router")["task_destinations"]
    assert destination["name"] == "synthesis"
    assert destination["conditions"] == [
        "{{ context.dicom.series.any('0008','0060') }} == 'MR'",
        "{{ context.dicom.series.any('0018','0015') }} CONTAINS ['HEAD', 'BRAIN']",
    ]


def test_the_docker_task_mounts_the_study_and_output_where_the_app_reads_them(workflow):
    """The plugin passes `env_X` arguments as X and mounts each artifact at the path of the argument of its name:
    naming the artifacts after the app's own variables makes the app find both folders without a flag."""
    spec = rules.docker_container_spec(task(workflow, "synthesis"))
    app_source = (ROOT / "app" / "__main__.py").read_text()
    input_dir, output_dir = spec["Env"]["HOLOSCAN_INPUT_PATH"], spec["Env"]["HOLOSCAN_OUTPUT_PATH"]
    assert spec["Mounts"] == [{"Target": input_dir, "ReadOnly": True}, {"Target": output_dir, "ReadOnly": False}]
    for variable in ("HOLOSCAN_INPUT_PATH", "HOLOSCAN_OUTPUT_PATH"):
        assert f'"{variable}"' in app_source, f"app/__main__.py no longer reads {variable}"
    assert "MONAI_WORKDIR" not in spec["Env"], "env_MONAI_WORKDIR would add a scratch mount uploaded as output"


def test_the_docker_task_runs_the_images_entrypoint_in_folder_mode(workflow):
    """The plugin always replaces the image's entrypoint and command: they must name the image's own."""
    spec = rules.docker_container_spec(task(workflow, "synthesis"))
    dockerfile = (ROOT / "Dockerfile").read_text()
    (entrypoint,) = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert spec["Entrypoint"] == json.loads(entrypoint)
    assert spec["Cmd"] == ["folder"]
    assert re.search(r"^\s*folder\)$", (ROOT / "container" / "entrypoint.sh").read_text(), flags=re.MULTILINE)


def test_the_docker_task_runs_as_the_images_user(workflow):
    """With `user` set the plugin chowns the input and output folders to it; the image runs as uid 1000."""
    assert synthesis_args(workflow)["user"] == "1000:1000"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--uid 1000 --user-group" in dockerfile and re.search(r"^USER holoscan$", dockerfile, flags=re.MULTILINE)


def test_the_timeouts_leave_a_cpu_run_time_to_finish(workflow):
    """The plugin stops watching after task_timeout_minutes (5 if unset); the server cancels after timeout_minutes."""
    synthesis = task(workflow, "synthesis")
    plugin_minutes = int(synthesis["args"]["task_timeout_minutes"])
    assert 30 <= plugin_minutes <= synthesis["timeout_minutes"]


def test_the_export_sends_the_synthesis_output(workflow):
    """The export task sends the files ending in .dcm under the artifact (`IsValidDicomFile`): the app's names do."""
    assert export_input(workflow)["value"] == "{{ context.executions.synthesis.artifacts.env_HOLOSCAN_OUTPUT_PATH }}"
    assert task(workflow, "export-synthetic")["export_destinations"] == [{"name": "ORTHANC"}]
    assert '.dcm"' in (ROOT / "operators" / "writing" / "sc_files.py").read_text()


def _export_conditions(workflow: dict) -> list[str]:
    (destination,) = task(workflow, "synthesis")["task_destinations"]
    assert destination["name"] == "export-synthetic"
    return destination["conditions"]


def test_the_docker_task_asks_the_app_for_the_metadata_its_export_condition_reads(workflow):
    """The plugin passes env_MRI_SYNTH_TASK_METADATA as MRI_SYNTH_TASK_METADATA; the app then writes metadata.json."""
    spec = rules.docker_container_spec(task(workflow, "synthesis"))
    assert task_metadata_requested(spec["Env"])
    assert all("result.synthesized" in condition for condition in _export_conditions(workflow))


@pytest.mark.parametrize(
    ("result", "exported"),
    [
        ({"synthesized": "flair", "outcome": "synthesized"}, True),
        ({"synthesized": "t1ce,t2", "outcome": "synthesized"}, True),
        ({"synthesized": NONE, "outcome": "skipped"}, False),
        ({"synthesized": NONE, "outcome": "input-error"}, False),
        ({}, True),
    ],
    ids=["one series", "two series", "skipped", "input error", "no metadata mapping at the site"],
)
def test_the_export_runs_only_when_something_was_synthesized(workflow, result, exported):
    """Without the site's metadata mapping the result is empty ('NULL'): the export still runs, as before it."""
    assert workflow_conditions.holds(_export_conditions(workflow), {"synthesis": result}) is exported


def test_the_condition_evaluator_follows_the_workflow_managers_resolution():
    results = {"a": {"k": "Value", "empty": "", "undefined": "undefined"}}
    assert workflow_conditions.resolve("{{ context.executions.a.result.k }} == 'x'", results, {}) == "'Value' == 'x'"
    for key in ("empty", "undefined", "absent"):
        resolved = workflow_conditions.resolve(f"{{{{ context.executions.a.result.{key} }}}} == 'x'", results, {})
        assert resolved == "'NULL' == 'x'"
    assert workflow_conditions.resolve("{{ context.executions.b.result.k }} != 'x'", results, {}) == "'NULL' != 'x'"
    assert workflow_conditions.holds(["{{ context.executions.a.result.k }} == 'VALUE'"], results), "case ignored"
    assert workflow_conditions.holds(["{{ context.executions.a.status }} == 'Succeeded'"], {}, {"a": "Succeeded"})
    assert not workflow_conditions.holds(["'a' == 'a' AND 'a' != 'a'"], {})
    with pytest.raises(ValueError, match="not one this evaluator knows"):
        workflow_conditions.holds(["{{ context.workflow.name }} == 'x'"], {})
    with pytest.raises(ValueError, match="resolves to"):
        workflow_conditions.holds(["'a' CONTAINS ['a']"], {})
