"""`python -m app -i IN -o OUT [-m MODEL]`: run the graph once on a folder of DICOM files, as a MAP runs.

`python -m app serve ...` runs the DICOM node instead, `python -m app status`
prints its queue and `python -m app health` C-ECHOes it (`app.node.cli`).

As with `monai-deploy run`, the folders may also come from HOLOSCAN_INPUT_PATH,
HOLOSCAN_OUTPUT_PATH and HOLOSCAN_MODEL_PATH (flags win). The older MAP
names MONAI_INPUTPATH, MONAI_OUTPUTPATH and MONAI_MODELPATH, which a Workflow
Manager task passes as `env_MONAI_*` arguments, win over the HOLOSCAN ones:
the image sets those as defaults, and only a runner sets the older ones.
Without a model the shipped default (models/default) is used. The run
itself is `app.study_run.run_study`. Exit codes: 0 synthesized, or
nothing to do (all contrasts present, too few present, dry run); 2 bad
command line; 3 the input cannot be used (no DICOM, no brain MR series,
geometry that cannot be combined); 4 the model cannot be loaded or refused
the study; 1 an unexpected error. report.json in OUT says which and why.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.run_options import OptionError, RunOptions
from app.study_run import run_study
from app.task_metadata import task_metadata_requested
from product.choices import DEFAULT_MIN_PRESENT, OUTPUT_GRIDS, SOP_CLASSES

FOLDER_VARIABLES = {
    "input": ("MONAI_INPUTPATH", "HOLOSCAN_INPUT_PATH"),
    "output": ("MONAI_OUTPUTPATH", "HOLOSCAN_OUTPUT_PATH"),
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
        "--min-present",
        type=int,
        default=DEFAULT_MIN_PRESENT,
        help=f"fewest contrasts present to synthesize the others (default {DEFAULT_MIN_PRESENT})",
    )
    parser.add_argument(
        "--synthesize-unusable",
        action="store_true",
        help="also synthesize a contrast whose only series was acquired but cannot be used (default: report it)",
    )
    parser.add_argument("--sop-class", choices=SOP_CLASSES, default="sc", help="write SC (default) or derived MR")
    parser.add_argument(
        "--output-grid",
        choices=OUTPUT_GRIDS,
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
    parser.add_argument(
        "--sampler",
        help="write this instead of the model's default: mean, onestep[:image] (deterministic) "
        "or ddim:N[:shared][:image] (a sample)",
    )
    parser.add_argument("--sampler-steps", type=int, help="DDIM steps (default: the model's; fewer is faster)")
    parser.add_argument(
        "--allow-different-frames",
        action="store_true",
        help="combine series of different Frames of Reference (only if the patient did not move)",
    )
    args = parser.parse_args(argv)
    try:
        args.options = RunOptions(
            model=Path(args.model) if args.model else None,
            dry_run=args.dry_run,
            min_present=args.min_present,
            synthesize_unusable=args.synthesize_unusable,
            sop_class=args.sop_class,
            output_grid=args.output_grid,
            burn_label=not args.no_label,
            device=args.device,
            allow_different_frames=args.allow_different_frames,
            sampler=args.sampler,
            sampler_steps=args.sampler_steps,
            task_metadata=args.task_metadata or task_metadata_requested(),
        )
    except OptionError as error:
        parser.error(f"--{error.option.replace('_', '-')} {error.problem}")
    args.input = _folder(args.input, FOLDER_VARIABLES["input"], "input")
    args.output = _folder(args.output, FOLDER_VARIABLES["output"], "output")
    if not args.input.exists():
        parser.error(f"input folder {args.input} does not exist")
    if not args.dry_run and not args.options.model_folder.exists():
        parser.error(f"model folder {args.options.model_folder} does not exist (give -m MODEL, or --dry-run)")
    return args


def run_folder(args: argparse.Namespace) -> int:
    """Run the graph once (`app.study_run.run_study`); the exit code says how it ended (see the module docstring)."""
    result = run_study(args.input, args.output, args.options, log_level=args.log_level)
    print(f"{result.outcome.value}: {result.reason}")
    print(f"report: {result.report}")
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The node's worker process gets the stack Holoscan wants itself.
    if argv and argv[0] in ("serve", "status", "health"):
        from app.node.cli import main as node_main

        return node_main(argv)
    from product.process import ensure_stack_size

    ensure_stack_size()
    return run_folder(parse_arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
