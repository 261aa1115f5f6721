"""Fixtures shared by the operator, application, node and container tests: one simulated subject, studies
written from it, and folder-mode runs of the application shared by the tests that only read their output."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SUBJECT_SEED = 3


@pytest.fixture(scope="session")
def simulated_subject():
    """The seed-3 whole-head glioma subject (3 T: MPRAGE T1, 2D axial T2, 3D FLAIR); its `clean` volumes are truth."""
    import numpy as np

    from simulation.subject import sample_subject, simulate_subject

    return simulate_subject(sample_subject(np.random.default_rng(SUBJECT_SEED), kind="glioma", whole_head=True))


@pytest.fixture(scope="session")
def study_of(tmp_path_factory, simulated_subject) -> Callable[..., Path]:
    """`study_of("t1", "t2", vendor="ge")`: the subject's study with those contrasts (cached per arguments)."""
    from simulation.dicom_study import write_study

    cache: dict[tuple, Path] = {}

    def make(
        *contrasts: str, vendor: str = "siemens", extra_series: bool = False, transfer_syntax: str | None = None
    ) -> Path:
        key = (contrasts, vendor, extra_series, transfer_syntax)
        if key not in cache:
            out = tmp_path_factory.mktemp("study") / "-".join(contrasts)
            options = {"transfer_syntax": transfer_syntax} if transfer_syntax else {}
            write_study(
                out,
                seed=3,
                vendor=vendor,
                contrasts=list(contrasts),
                subject=simulated_subject,
                extra_series=extra_series,
                **options,
            )
            (out / "manifest.json").unlink()
            cache[key] = out
        return cache[key]

    return make


@pytest.fixture
def copy_study(tmp_path) -> Callable[[Path], Path]:
    """A writable copy of a cached study, for tests that damage it."""

    def copy(study: Path) -> Path:
        target = tmp_path / f"copy-{study.name}"
        shutil.copytree(study, target)
        return target

    return copy


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Callable[..., tuple[int, dict, Path]]:
    """`synthesized(study, *flags)`: exit code, report and output folder of `python -m app -i STUDY -o OUT FLAGS`,
    run once per session for the same study and flags (tests that only read the output share it)."""
    from tests.app.running import run_app

    cache: dict[tuple, tuple[int, dict, Path]] = {}

    def run(study: Path, *flags: str) -> tuple[int, dict, Path]:
        key = (str(study), flags)
        if key not in cache:
            out = tmp_path_factory.mktemp("run") / "out"
            code, report = run_app("-i", str(study), "-o", str(out), *flags)
            cache[key] = (code, report, out)
        return cache[key]

    return run
