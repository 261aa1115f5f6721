"""Rules the Workflow Manager's server accepts but a run trips on (artifact values, references, conditions, task
paths), and the limits of its written spec."""

from __future__ import annotations

import re

from deploy.workflow_access import (
    _ARTIFACT_VALUE,
    _OPERATOR,
    _PARAMETER,
    _PARAMETER_FORMS,
    _artifacts,
    _destinations,
    _get,
    _id,
    _list,
    _tasks,
    _text,
)


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
