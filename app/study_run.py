"""The seam: run the graph on one study folder. The command line and the node's worker both call `run_study`.

What a run may be asked and how it ended are `app.run_options`. Importing
this module loads neither Holoscan nor torch: the node imports it, and the
graph is imported only inside `run_study`.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

from app.run_options import REPORT_NAME, RunOptions, RunResult
from product.outcome import Outcome

logger = logging.getLogger(__name__)


def run_study(input_folder: Path, output_folder: Path, options: RunOptions, log_level: str | None = None) -> RunResult:
    """Run the graph once on `input_folder`, writing the series, report.json (always) and preview into `output_folder`.

    The graph's own failures end in the report (outcome internal-error) rather than an exception. `log_level` is
    the SDK's `-l` (how the run logs, not what it makes).
    """
    from app.app import ContrastSynthesisApp
    from app.task_metadata import write_task_metadata
    from operators.study_state import StudyState
    from operators.writing.report_writer_operator import write_report

    input_folder, output_folder = Path(input_folder), Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    model = options.model_folder
    sdk_argv = [sys.executable, "app", "-i", str(input_folder), "-o", str(output_folder)]
    if model.exists():
        sdk_argv += ["-m", str(model)]
    if log_level:
        sdk_argv += ["-l", log_level]
    app = ContrastSynthesisApp(sdk_argv, options)
    try:
        app.run()
        state = app.final_state
        if state is None:
            raise RuntimeError("the graph ended before its report writer ran")
    except Exception as error:
        logger.error("the graph stopped: %s\n%s", error, traceback.format_exc())
        state = app.final_state or StudyState(input_path=str(input_folder))
        state.outcome, state.reason = Outcome.INTERNAL_ERROR, f"{type(error).__name__}: {error}"
        write_report(state, output_folder)
    if options.task_metadata:
        write_task_metadata(state, output_folder)
    return RunResult(state.outcome, state.reason, output_folder / REPORT_NAME, dict(state.timings))
