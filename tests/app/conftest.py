"""The application tests share the root conftest's studies (`study_of`, `copy_study`) and, here, graph runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app.running import run_app


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Callable[..., tuple[int, dict, Path]]:
    """`synthesized(study, *flags)`: exit code, report and output folder of `python -m app -i STUDY -o OUT FLAGS`,
    run once per session for the same study and flags (tests that only read the output share it)."""
    cache: dict[tuple, tuple[int, dict, Path]] = {}

    def run(study: Path, *flags: str) -> tuple[int, dict, Path]:
        key = (str(study), flags)
        if key not in cache:
            out = tmp_path_factory.mktemp("run") / "out"
            code, report = run_app("-i", str(study), "-o", str(out), *flags)
            cache[key] = (code, report, out)
        return cache[key]

    return run
