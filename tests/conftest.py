"""Fixtures shared by the operator, application and node tests: one simulated subject, studies written from it."""

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
            write_study(out, seed=3, vendor=vendor, contrasts=list(contrasts), subject=simulated_subject,
                        extra_series=extra_series, **options)  # fmt: skip
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
