"""Fixtures shared by the operator and application tests."""

from __future__ import annotations

import pytest

SUBJECT_SEED = 3


@pytest.fixture(scope="session")
def simulated_subject():
    """The seed-3 whole-head glioma subject (3 T: MPRAGE T1, 2D axial T2, 3D FLAIR); its `clean` volumes are truth."""
    import numpy as np

    from simulation.subject import sample_subject, simulate_subject

    return simulate_subject(sample_subject(np.random.default_rng(SUBJECT_SEED), kind="glioma", whole_head=True))
