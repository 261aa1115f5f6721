"""A whole simulated subject: tissue contrast in the images, labels, determinism."""

import numpy as np
import pytest

from simulation.subject import acquire, sample_subject, simulate_subject


@pytest.fixture(scope="module")
def glioma_subject():
    return simulate_subject(sample_subject(np.random.default_rng(11), kind="glioma", whole_head=True))


def _mean(volume, mask):
    return float(volume[mask].mean())


def test_simulated_images_order_tissues_like_real_mri(glioma_subject):
    wm, gm, csf = (glioma_subject.tissue(t) & (glioma_subject.labels == 0) for t in ("wm", "gm", "csf"))
    t1, t2, flair = (glioma_subject.clean[c] for c in ("t1", "t2", "flair"))
    assert _mean(t1, wm) > _mean(t1, gm) > _mean(t1, csf)
    assert _mean(t2, csf) > _mean(t2, gm) > _mean(t2, wm)
    # CSF-dominant voxels include partial volume with cortex; pure CSF is near zero (test_signal).
    assert _mean(flair, csf) < 0.5 * _mean(flair, wm)


def test_glioma_has_brats_labels_and_enhances(glioma_subject):
    labels = glioma_subject.labels
    assert set(np.unique(labels)) <= {0, 1, 2, 4} and (labels == 2).any() and (labels == 4).any()
    enhancing = labels == 4
    gain = _mean(glioma_subject.clean["t1ce"], enhancing) / _mean(glioma_subject.clean["t1"], enhancing)
    normal = (labels == 0) & (glioma_subject.brain_mask > 0)
    normal_gain = _mean(glioma_subject.clean["t1ce"], normal) / _mean(glioma_subject.clean["t1"], normal)
    assert gain > 1.4 and normal_gain < 1.1
    edema = labels == 2
    assert _mean(glioma_subject.clean["flair"], edema) > 1.3 * _mean(glioma_subject.clean["flair"], normal)


def test_whole_head_has_signal_outside_the_brain(glioma_subject):
    outside = glioma_subject.brain_mask == 0
    assert glioma_subject.clean["t1"][outside].max() > 0.5 * glioma_subject.clean["t1"].max()


def test_acquisition_is_deterministic_and_noisy(glioma_subject):
    a = acquire(glioma_subject, "t2")
    b = acquire(glioma_subject, "t2")
    assert np.array_equal(a, b)
    assert not np.allclose(a, glioma_subject.clean["t2"], atol=1e-3)


def test_same_seed_same_parameters_and_different_seed_different():
    a = sample_subject(np.random.default_rng(5), kind="wmh")
    b = sample_subject(np.random.default_rng(5), kind="wmh")
    c = sample_subject(np.random.default_rng(6), kind="wmh")
    assert a == b and a != c
