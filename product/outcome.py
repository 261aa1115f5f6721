"""How a run of the graph ended: the value is what report.json says, the exit code what `python -m app` returns."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a run ended (`INTERRUPTED` only in the node: its worker stopped the run, no report was written)."""

    RUNNING = "running"
    SYNTHESIZED = "synthesized"
    SKIPPED = "skipped"
    DRY_RUN = "dry-run"
    INPUT_ERROR = "input-error"
    MODEL_ERROR = "model-error"
    INTERNAL_ERROR = "internal-error"
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]

    @property
    def succeeded(self) -> bool:
        """The run did what the study needed (which may be nothing): its results are final."""
        return self in (Outcome.SYNTHESIZED, Outcome.SKIPPED, Outcome.DRY_RUN)


EXIT_CODES = {
    Outcome.RUNNING: 1,
    Outcome.SYNTHESIZED: 0,
    Outcome.SKIPPED: 0,
    Outcome.DRY_RUN: 0,
    Outcome.INPUT_ERROR: 3,
    Outcome.MODEL_ERROR: 4,
    Outcome.INTERNAL_ERROR: 1,
    Outcome.INTERRUPTED: 1,
}
"""Exit codes of `python -m app` (documented in the README); 2 is argparse's for a bad command line."""
