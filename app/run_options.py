"""The options of one run and how it ended: what the command line, the node's config and the worker exchange.

`RunOptions` is every choice of a run, validated once, here, with errors that
name the option; the command line builds it from flags and variables, the
node's config file holds it under `output:`, the worker passes it to its
child process as data. `RunResult` is how the run ended (the report says the
rest). This module and `app.study_run` are the node's only way to the graph.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from models.config import SamplerConfig
from models.sampler_spec import parse_samplers
from product.choices import CONTRAST_COUNT, DEFAULT_MIN_PRESENT, OUTPUT_GRIDS, SOP_CLASSES
from product.errors import ProductError
from product.outcome import Outcome

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
REPORT_NAME = "report.json"
MODEL_VARIABLES = ("MONAI_MODELPATH", "HOLOSCAN_MODEL_PATH")
"""Where the model is without an option: the older MAP variable (set only by a runner), then the image's."""


class OptionError(ProductError, ValueError):
    """An option has a value no run can use; the message starts with the option's name."""

    def __init__(self, option: str, problem: str):
        self.option, self.problem = option, problem
        super().__init__(f"{option}: {problem}")


@dataclass(frozen=True)
class RunOptions:
    """Every choice of one run beyond the input and output folders.

    Attributes:
        model: the model folder (None: $MONAI_MODELPATH, else $HOLOSCAN_MODEL_PATH, the image's, else the
            shipped models/default).
        dry_run: identify and report only; the model is not loaded.
        min_present: fewest contrasts present to synthesize the others (1 to 3).
        synthesize_unusable: synthesize a contrast held only by a series that cannot be used (default: report it).
        sop_class: "sc" Secondary Capture, or "mr" derived MR Image Storage.
        output_grid: "reference" (the reference series' slices) or "isotropic" (the model's 1 mm axial grid).
        burn_label: draw "SYNTHETIC" into every slice.
        device: torch device (None: the GPU if there is one, else the CPU).
        allow_different_frames: combine series of different Frames of Reference without registration.
        sampler: what to write instead of the model's default output, as `models.sampler_spec` reads it: "mean"
            (the deterministic mean, no diffusion), "onestep[:image]" (the mean refined in one diffusion step,
            deterministic), "ddim:N[:shared][:image]" (a sample); mean and onestep need a second-generation model.
        sampler_steps: sampler steps instead of the model's default (1 to 1000; fewer: faster, rougher).
        task_metadata: also write metadata.json for Workflow Manager conditions (app.task_metadata).
    """

    model: Path | None = None
    dry_run: bool = False
    min_present: int = DEFAULT_MIN_PRESENT
    synthesize_unusable: bool = False
    sop_class: str = "sc"
    output_grid: str = "reference"
    burn_label: bool = True
    device: str | None = None
    allow_different_frames: bool = False
    sampler: str | None = None
    sampler_steps: int | None = None
    task_metadata: bool = False

    def __post_init__(self) -> None:
        for name in ("dry_run", "synthesize_unusable", "burn_label", "allow_different_frames", "task_metadata"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(name, f"{getattr(self, name)!r} is not true or false")
        if isinstance(self.min_present, bool) or not isinstance(self.min_present, int):
            raise OptionError("min_present", f"{self.min_present!r} is not a whole number")
        if not 1 <= self.min_present < CONTRAST_COUNT:
            raise OptionError("min_present", f"{self.min_present}: expected 1 to {CONTRAST_COUNT - 1}")
        if self.sampler_steps is not None:
            if isinstance(self.sampler_steps, bool) or not isinstance(self.sampler_steps, int):
                raise OptionError("sampler_steps", f"{self.sampler_steps!r} is not a whole number")
            if not 1 <= self.sampler_steps <= 1000:
                raise OptionError("sampler_steps", f"{self.sampler_steps}: expected 1 to 1000")
        if self.sampler is not None:
            try:
                if len(parse_samplers(str(self.sampler), SamplerConfig())) != 1:
                    raise ValueError("give one sampler")
            except ValueError as error:
                reason = str(error).split(": ", 1)[-1]  # parse_samplers names the item; the option names it here
                raise OptionError("sampler", f"{self.sampler}: {reason}") from None
        if self.sop_class not in SOP_CLASSES:
            raise OptionError("sop_class", f"{self.sop_class!r}: expected one of {', '.join(SOP_CLASSES)}")
        if self.output_grid not in OUTPUT_GRIDS:
            raise OptionError("output_grid", f"{self.output_grid!r}: expected one of {', '.join(OUTPUT_GRIDS)}")
        if self.model is not None and not isinstance(self.model, Path):
            object.__setattr__(self, "model", Path(self.model))

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @property
    def model_folder(self) -> Path:
        """The folder holding model.yaml (a folder's only model subfolder in the MAP layout, models/<name>)."""
        model = self.model or next((Path(os.environ[v]) for v in MODEL_VARIABLES if os.environ.get(v)), None)
        return find_model_folder(model) if model is not None else DEFAULT_MODEL


def find_model_folder(path: Path) -> Path:
    """`path` itself when it holds model.yaml (or is not a folder), else its only `*/model.yaml` folder."""
    if (path / "model.yaml").is_file() or not path.is_dir():
        return path
    found = sorted(p.parent for p in path.glob("*/model.yaml"))
    return found[0] if len(found) == 1 else path


@dataclass(frozen=True)
class RunResult:
    """How one run ended: the outcome, why, and where its report is (None when the run wrote none)."""

    outcome: Outcome
    reason: str
    report: Path | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code
