"""`python -m app -i IN -o OUT [-m MODEL]`: run the graph once on a folder of DICOM files, as a MAP runs.

`python -m app serve ...` runs the DICOM node instead, `python -m app status`
prints its queue and `python -m app health` C-ECHOes it (`app.node.cli`).

As with `monai-deploy run`, the folders may also come from HOLOSCAN_INPUT_PATH,
HOLOSCAN_OUTPUT_PATH and HOLOSCAN_MODEL_PATH (flags win). The older MAP
names MONAI_INPUTPATH, MONAI_OUTPUTPATH and MONAI_MODELPATH, which a Workflow
Manager task passes as `env_MONAI_*` arguments, win over the HOLOSCAN ones:
the image sets those as defaults, and only a runner sets the older ones. Without a model
the shipped default (models/default) is used. Exit codes: 0 synthesized, or
nothing to do (all contrasts present, too few present, dry run); 2 bad
command line; 3 the input cannot be used (no DICOM, no brain MR series,
geometry that cannot be combined); 4 the model cannot be loaded or refused
the study; 1 an unexpected error. report.json in OUT says which and why.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from app.task_metadata import task_metadata_requested

if TYPE_CHECKING:
    from operators.study_state import StudyState

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
MODEL_FILE = "model.yaml"


def model_folder(path: Path) -> Path:
    """The folder holding model.yaml: `path` itself, or its only model subfolder (MAP layout: models/<name>)."""
    if (path / MODEL_FILE).is_file() or not path.is_dir():
        return path
    found = sorted(p.parent for p in path.glob(f"*/{MODEL_FILE}"))
    return found[0] if len(found) == 1 else path


FOLDER_VARIABLES = {
    "input": ("MONAI_INPUTPATH", "HOLOSCAN_INPUT_PATH"),
    "output": ("MONAI_OUTPUTPATH", "HOLOSCAN_OUTPUT_PATH"),
    "model": ("MONAI_MODELPATH", "HOLOSCAN_MODEL_PATH"),
}
"""Where each folder comes from without a flag, first found wins (see the module docstring)."""


def _folder(flag: str | None, variables: tuple[str, ...], default: str | None) -> Path | None:
    value = flag or next((os.environ[v] for v in variables if os.environ.get(v)), None) or default
    return Path(value) if value else None


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Synthesize the missing ones of T1, T1ce, T2 and FLAIR in a brain MR study (folder of DICOM).",
    )
    parser.add_argument("-i", "--input", help="folder of DICOM files (default: $HOLOSCAN_INPUT_PATH, else input)")
    parser.add_argument("-o", "--output", help="output folder (default: $HOLOSCAN_OUTPUT_PATH, else output)")
    parser.add_argument(
        "-m", "--model", help="model folder (default: $HOLOSCAN_MODEL_PATH, else the shipped models/default)"
    )
    parser.add_argument("-l", "--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"])
    parser.add_argument("--dry-run", action="store_true", help="identify and report only; do not load the model")
    parser.add_argument(
        "--min-present", type=int, default=2, help="fewest contrasts present to synthesize the others (default 2)"
    )
    parser.add_argument(
        "--synthesize-unusable",
        action="store_true",
        help="also synthesize a contrast whose only series was acquired but cannot be used (default: report it)",
    )
    parser.add_argument("--sop-class", choices=("sc", "mr"), default="sc", help="write SC (default) or derived MR")
    parser.add_argument(
        "--output-grid",
        choices=("reference", "isotropic"),
        default="reference",
        help="write on the reference series' slices (default) or on the model's 1 mm isotropic axial grid",
    )
    parser.add_argument("--no-label", action="store_true", help="do not burn the SYNTHETIC label into the pixels")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument(
        "--task-metadata",
        action="store_true",
        help="also write metadata.json, the outcome for Workflow Manager conditions ($MRI_SYNTH_TASK_METADATA=1)",
    )
    parser.add_argument("--sampler-steps", type=int, help="DDIM steps (default: the model's; fewer is faster)")
    parser.add_argument(
        "--allow-different-frames",
        action="store_true",
        help="combine series of different Frames of Reference (only if the patient did not move)",
    )
    args = parser.parse_args(argv)
    if args.sampler_steps is not None and not 1 <= args.sampler_steps <= 1000:
        parser.error(f"--sampler-steps {args.sampler_steps}: expected 1 to 1000")
    if not 1 <= args.min_present <= 3:
        parser.error(f"--min-present {args.min_present}: expected 1, 2 or 3")
    args.task_metadata = args.task_metadata or task_metadata_requested()
    args.input = _folder(args.input, FOLDER_VARIABLES["input"], "input")
    args.output = _folder(args.output, FOLDER_VARIABLES["output"], "output")
    model = _folder(args.model, FOLDER_VARIABLES["model"], None)
    args.model = model_folder(model) if model else DEFAULT_MODEL
    if not args.input.exists():
        parser.error(f"input folder {args.input} does not exist")
    if not args.dry_run and not args.model.exists():
        parser.error(f"model folder {args.model} does not exist (give -m MODEL, or --dry-run)")
    return args


def _write_task_metadata(args: argparse.Namespace, state: StudyState) -> None:
    """metadata.json beside report.json when asked for (app.task_metadata)."""
    if args.task_metadata:
        from app.task_metadata import write_task_metadata

        write_task_metadata(state, args.output)


def run_folder(args: argparse.Namespace) -> int:
    """Run the graph once; the exit code says how it ended (see the module docstring)."""
    from app.app import AppOptions, ContrastSynthesisApp
    from operators.report_writer_operator import write_report
    from operators.sc_writer import WriterOptions
    from operators.study_state import Outcome, StudyState

    args.output.mkdir(parents=True, exist_ok=True)
    sdk_argv = [sys.executable, "app", "-i", str(args.input), "-o", str(args.output)]
    if args.model.exists():
        sdk_argv += ["-m", str(args.model)]
    if args.log_level:
        sdk_argv += ["-l", args.log_level]
    options = AppOptions(
        dry_run=args.dry_run,
        min_present=args.min_present,
        synthesize_unusable=args.synthesize_unusable,
        writer=WriterOptions(burn_label=not args.no_label, sop_class=args.sop_class, output_grid=args.output_grid),
        device=args.device,
        allow_different_frames=args.allow_different_frames,
        sampler_steps=args.sampler_steps,
    )
    app = ContrastSynthesisApp(sdk_argv, options)
    try:
        app.run()
    except Exception as error:
        logging.getLogger("app").error("the graph stopped: %s\n%s", error, traceback.format_exc())
        state = app.final_state or StudyState(input_path=str(args.input))
        state.outcome, state.reason = Outcome.INTERNAL_ERROR, f"{type(error).__name__}: {error}"
        write_report(state, args.output)
        _write_task_metadata(args, state)
        return state.outcome.exit_code
    state = app.final_state
    if state is None:
        return Outcome.INTERNAL_ERROR.exit_code
    _write_task_metadata(args, state)
    print(f"{state.outcome.value}: {state.reason}")
    print(f"report: {args.output / 'report.json'}")
    return state.outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The node's worker process gets the stack Holoscan wants itself.
    if argv and argv[0] in ("serve", "status", "health"):
        from app.node.cli import main as node_main

        return node_main(argv)
    from models.runtime import ensure_stack_size

    ensure_stack_size()
    return run_folder(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
