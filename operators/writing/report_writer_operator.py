"""report.json (every run, whatever happened) and preview.png (when something was synthesized).

The last operator of the graph: it writes what the state says, atomically
(temporary file, fsync, rename), so a reader never sees half a report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators.study_state import StudyState
from operators.writing.preview import write_preview
from product.files import write_json
from product.outcome import Outcome

logger = logging.getLogger(__name__)

REPORT_NAME = "report.json"
PREVIEW_NAME = "preview.png"


def write_report(state: StudyState, output_dir: Path) -> Path:
    """Write report.json (and preview.png after a synthesis) into `output_dir`; returns the report's path."""
    output_dir = Path(output_dir)
    if state.outcome is Outcome.SYNTHESIZED and state.synthetic_on_grid:
        present = {c: state.grid.volumes[c] for c in state.chosen}
        with state.stage("preview"):
            write_preview(present, state.synthetic_on_grid, output_dir / PREVIEW_NAME, title=state.scenario or "")
        state.notes.append(f"{PREVIEW_NAME}: acquired and synthetic contrasts side by side")
    path = output_dir / REPORT_NAME
    write_json(state.to_report(), path)
    logger.info("study %s: %s written (%s)", state.study_instance_uid, path, state.outcome.value)
    return path


class ReportWriterOperator(Operator):
    """Writes report.json and preview.png; keeps the final state for the caller (`final_state`).

    Named input:
        state: the run's `StudyState`.
    """

    PORT = "state"

    def __init__(self, fragment: Fragment, *args, output_folder: Path, dry_run: bool = False, **kwargs):
        self.output_folder, self.dry_run = Path(output_folder), dry_run
        self.final_state: StudyState | None = None
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.PORT)

    def compute(self, op_input, op_output, context) -> None:
        state: StudyState = op_input.receive(self.PORT)
        if self.dry_run and state.active:
            state.end(Outcome.DRY_RUN, f"dry run: would synthesize {state.scenario}")
        write_report(state, self.output_folder)
        self.final_state = state
