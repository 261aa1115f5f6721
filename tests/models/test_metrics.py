"""Our metrics agree with scikit-image on known images."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from models.metrics import image_metrics, reformat_metrics, ssim_map


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    truth = np.clip(np.cumsum(rng.normal(size=(48, 48)), axis=0) / 20 + 0.5, 0, 1)
    noisy = np.clip(truth + rng.normal(scale=0.05, size=truth.shape), 0, 1)
    return truth, noisy


def test_ssim_map_matches_scikit_image(pair):
    truth, noisy = pair
    _, expected = structural_similarity(
        truth, noisy, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True
    )
    ours = ssim_map(truth, noisy)
    inner = (slice(6, -6), slice(6, -6))  # borders differ by padding convention only
    assert np.allclose(ours[inner], expected[inner], atol=1e-6)


def test_psnr_matches_scikit_image_on_a_full_mask(pair):
    truth, noisy = pair
    volume_t, volume_n = truth[..., None].repeat(3, 2), noisy[..., None].repeat(3, 2)
    mask = np.ones_like(volume_t, dtype=bool)
    ours = image_metrics(volume_n, volume_t, mask)

    # image_metrics rescales each volume by its own 0.5/99.5 percentiles; do the same for the reference.
    def scale(v):
        lo, hi = np.percentile(v, [0.5, 99.5])
        return np.clip((v - lo) / (hi - lo), 0, 1)

    assert ours["psnr"] == pytest.approx(peak_signal_noise_ratio(scale(volume_t), scale(volume_n), data_range=1.0))


def test_identical_volumes_score_perfectly_and_noise_scores_worse():
    rng = np.random.default_rng(1)
    volume = rng.random((20, 20, 10))
    mask = np.ones(volume.shape, bool)
    perfect = image_metrics(volume, volume, mask)
    assert perfect["ssim"] == pytest.approx(1.0) and perfect["mae"] == 0.0
    worse = image_metrics(rng.random(volume.shape), volume, mask)
    assert worse["psnr"] < 20 and worse["ssim"] < 0.5


def test_striped_volume_has_high_through_plane_energy():
    rng = np.random.default_rng(2)
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(rng.normal(size=(24, 24, 16)), 3.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    striped = smooth + rng.normal(scale=0.1, size=(1, 1, 16))
    mask = np.ones(smooth.shape, bool)
    assert reformat_metrics(striped, smooth, mask)["gradient_energy_ratio"] > 2
    assert reformat_metrics(smooth, smooth, mask)["gradient_energy_ratio"] == pytest.approx(1.0)


def test_high_frequency_ratio_tells_blur_from_noise():
    from scipy import ndimage

    from models.metrics import high_frequency_ratio

    rng = np.random.default_rng(3)
    truth = ndimage.gaussian_filter(rng.normal(size=(40, 40, 6)), (1.0, 1.0, 0))
    mask = np.ones(truth.shape, bool)
    blurred = ndimage.gaussian_filter(truth, (2.0, 2.0, 0))
    noisy = truth + rng.normal(scale=truth.std(), size=truth.shape)
    assert high_frequency_ratio(truth, truth, mask) == pytest.approx(1.0)
    assert high_frequency_ratio(blurred, truth, mask) < 0.5
    assert high_frequency_ratio(noisy, truth, mask) > 1.5


def test_paper_metrics_count_the_shared_background():
    from models.metrics import paper_metrics

    rng = np.random.default_rng(4)
    truth = rng.uniform(size=(32, 32, 4))
    prediction = np.clip(truth + rng.normal(scale=0.1, size=truth.shape), 0, 1)
    brain = np.zeros(truth.shape, bool)
    brain[8:24, 8:24] = True
    inside = image_metrics(prediction, truth, brain)["psnr"]
    paper = paper_metrics(prediction, truth, brain)
    assert paper["paper_psnr"] > inside + 3  # three quarters of each slice is shared zero background
    assert paper_metrics(truth, truth, brain)["paper_ssim"] == pytest.approx(1.0)
