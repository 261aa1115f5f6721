"""What the Workflow Manager decides for a task destination's conditions, given the earlier tasks' results.

A subset of `src/WorkflowManager/ConditionsResolver/` (Project-MONAI/monai-deploy-workflow-manager at
9e10e9506619ce810a3c47f82ec031fcf8e1f480), enough for the conditions on task results that the shipped workflow
uses: `{{ context.executions.<task>.result.<key> }}` and `.status` become the quoted value, or 'NULL' when the task or
the key is missing or the value is empty (`ConditionalParameterParser.ResolveParameters`); `==` and `!=` compare
the trimmed strings ignoring case (`Conditional.Evaluate`); the conditions of one destination must all hold
(`CombineConditionString` joins them with AND). Anything else raises: a test must not pass on a form this
evaluator does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deploy.workflow_access import _PARAMETER

_EXECUTION = re.compile(
    r"context\.executions\.(?P<task>[^.\s]+)\.(?:(?i:result)\.(?P<key>[^.\s]+)|(?P<status>(?i:status)))"
)
_CLAUSE = re.compile(r"'(?P<left>[^']*)'\s*(?P<operator>==|!=)\s*'(?P<right>[^']*)'")
_NULL_VALUES = ("", "NULL", "UNDEFINED")


def resolve(condition: str, results: Mapping[str, Mapping[str, object]], statuses: Mapping[str, str]) -> str:
    """The condition with each parameter replaced by its quoted value, as the server logs it."""

    def value(match: re.Match) -> str:
        parameter = match[1].strip()
        form = _EXECUTION.fullmatch(parameter)
        if form is None:
            raise ValueError(f"parameter '{{{{ {parameter} }}}}' is not one this evaluator knows")
        task = form["task"]
        found = statuses.get(task) if form["status"] else results.get(task, {}).get(form["key"])
        text = "" if found is None else str(found).strip()
        return "'NULL'" if text.upper() in _NULL_VALUES else f"'{text}'"

    return _PARAMETER.sub(value, condition)


def holds(
    conditions: list[str],
    results: Mapping[str, Mapping[str, object]],
    statuses: Mapping[str, str] | None = None,
) -> bool:
    """True when every condition holds (a destination without conditions is always taken)."""
    for condition in conditions:
        resolved = resolve(condition, results, statuses or {})
        clauses = re.split(r"\s+(?i:and)\s+", resolved.strip())
        for clause in clauses:
            match = _CLAUSE.fullmatch(clause.strip())
            if match is None:
                raise ValueError(f"condition {condition!r} resolves to {resolved!r}: not <'a'> ==|!= <'b'> [AND ...]")
            same = match["left"].strip().lower() == match["right"].strip().lower()
            if same != (match["operator"] == "=="):
                return False
    return True
