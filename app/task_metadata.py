"""metadata.json: the run's outcome as flat strings that a Workflow Manager condition can read.

MONAI Deploy Workflow Manager's Task Manager reads a task's `metadata.json`
(its `meta-data` plug-in mapping; the Argo plug-in's reader looks for that
file name anywhere under the task's outputs) into the task's result, which a
condition reads as `{{ context.executions.<task>.result.<key> }}`. With it the
shipped workflow sends nothing to the export task when nothing was
synthesized, instead of ending in a failed export (deploy/workflow-manager).
The file is written only when asked for (`--task-metadata` or
MRI_SYNTH_TASK_METADATA=1): a researcher's output folder does not need it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from product.files import write_json

if TYPE_CHECKING:  # the operators import Holoscan: not needed to parse the command line
    from operators.study_state import StudyState

TASK_METADATA_NAME = "metadata.json"
TASK_METADATA_VARIABLE = "MRI_SYNTH_TASK_METADATA"
NONE = "none"
"""The value of `synthesized` when no series was written (a condition cannot test an empty string: it reads NULL)."""


def task_metadata_requested(environment: dict[str, str] | None = None) -> bool:
    """True when the environment asks for metadata.json (1, true or yes)."""
    value = (os.environ if environment is None else environment).get(TASK_METADATA_VARIABLE, "")
    return value.strip().lower() in ("1", "true", "yes")


def task_metadata(state: StudyState) -> dict[str, str]:
    """Strings only, no PHI: conditions compare quoted strings, and the server stores the result in its database."""
    contrasts = sorted({output.contrast for output in state.outputs})
    return {
        "outcome": state.outcome.value,
        "exit_code": str(state.outcome.exit_code),
        "synthetic_series": str(len(state.outputs)),
        "synthesized": ",".join(contrasts) or NONE,
        "model_version": str(state.model.get("version", "")) or NONE,
    }


def write_task_metadata(state: StudyState, output_dir: Path) -> Path:
    """Write metadata.json beside report.json; returns its path."""
    path = Path(output_dir) / TASK_METADATA_NAME
    write_json(task_metadata(state), path)
    return path
