"""Run the folder-mode application in-process, as `python -m app` does after its stack check."""

from __future__ import annotations

import json

from app.__main__ import parse_arguments, run_folder


def run_app(*argv: str) -> tuple[int, dict]:
    """Run `python -m app ARGV` in this process; returns the exit code and report.json."""
    args = parse_arguments(list(argv))
    code = run_folder(args)
    report = args.output / "report.json"
    return code, json.loads(report.read_text()) if report.is_file() else {}
