"""Image-quality metrics of a synthetic volume against the truth, inside a mask.

Protocol (the paper leaves it unspecified, so it is fixed here and written
into every table): BraSyn-style, each volume is scaled by its own 0.5 and
99.5 percentiles inside the brain mask to [0, 1] (clipped); PSNR uses data
range 1 over mask voxels; SSIM is the mean, over mask voxels, of the 2D SSIM
map (Gaussian window sigma 1.5, truncated at 3.5 sigma, K1 0.01, K2 0.03, as
scikit-image with gaussian_weights=True) computed in the chosen plane; MAE is
the mean absolute difference over mask voxels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
K1, K2 = 0.01, 0.03
PLANES = {"axial": 2, "coronal": 1, "sagittal": 0}


def percentile_normalise(volume: np.ndarray, mask: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Scale to [0, 1] by the volume's own percentiles inside `mask`, clipped."""
    values = volume[mask]
    if values.size == 0:
        raise ValueError("percentile_normalise: empty mask")
    lo, hi = np.percentile(values, [low, high])
    return np.clip((volume - lo) / max(hi - lo, 1e-8), 0.0, 1.0).astype(np.float64)


def ssim_map(x: np.ndarray, y: np.ndarray, plane_axis: int = 2, data_range: float = 1.0) -> np.ndarray:
    """SSIM map of two volumes, computed in 2D planes normal to `plane_axis` (no filtering along it)."""
    sigma = [SSIM_SIGMA] * x.ndim
    if x.ndim == 3:
        sigma[plane_axis] = 0.0
    x = x.astype(np.float64)
    y = y.astype(np.float64)

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma, truncate=SSIM_TRUNCATE, mode="reflect")

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def image_metrics(
    prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray, plane: str = "axial"
) -> dict[str, float]:
    """PSNR (dB), SSIM and MAE inside `mask`, after percentile normalisation of each volume."""
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("image_metrics: empty mask")
    p = percentile_normalise(prediction, mask)
    t = percentile_normalise(truth, mask)
    mse = float(np.mean((p[mask] - t[mask]) ** 2))
    return {
        "psnr": float(10 * np.log10(1.0 / max(mse, 1e-12))),
        "ssim": float(ssim_map(p, t, PLANES[plane])[mask].mean()),
        "mae": float(np.mean(np.abs(p[mask] - t[mask]))),
    }


def region_metrics(prediction: np.ndarray, truth: np.ndarray, brain: np.ndarray, lesion: np.ndarray) -> dict:
    """Metrics in the brain, inside lesions and in the brain outside lesions (normalised on the whole brain)."""
    brain = brain.astype(bool)
    p = percentile_normalise(prediction, brain)
    t = percentile_normalise(truth, brain)
    ssim = ssim_map(p, t, PLANES["axial"])
    out = {}
    for name, region in (("brain", brain), ("lesion", brain & lesion), ("healthy", brain & ~lesion)):
        if region.sum() < 10:
            continue
        mse = float(np.mean((p[region] - t[region]) ** 2))
        out[name] = {
            "psnr": float(10 * np.log10(1.0 / max(mse, 1e-12))),
            "ssim": float(ssim[region].mean()),
            "mae": float(np.mean(np.abs(p[region] - t[region]))),
        }
    return out


def reformat_metrics(prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """What slice-wise synthesis striping shows: SSIM in sagittal and coronal planes, and through-plane energy.

    `gradient_energy_ratio` is the mean squared slice-to-slice difference
    (along the last, axial-slice axis) of the prediction over that of the
    truth: above 1 means stripes the truth does not have.
    """
    mask = mask.astype(bool)
    p = percentile_normalise(prediction, mask)
    t = percentile_normalise(truth, mask)
    both = mask[..., 1:] & mask[..., :-1]
    energy_p = float(np.mean(np.diff(p, axis=2)[both] ** 2))
    energy_t = float(np.mean(np.diff(t, axis=2)[both] ** 2))
    return {
        "ssim_sagittal": float(ssim_map(p, t, PLANES["sagittal"])[mask].mean()),
        "ssim_coronal": float(ssim_map(p, t, PLANES["coronal"])[mask].mean()),
        "gradient_energy_ratio": energy_p / max(energy_t, 1e-12),
    }


HIGH_PASS_SIGMA = 1.0
"""In-plane Gaussian (voxels) whose residual is the "high frequency" of `high_frequency_ratio`."""


def high_frequency_ratio(prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """In-brain power of the in-plane high frequencies (image minus its sigma-1 Gaussian blur) of the prediction
    over the truth's, after the percentile scaling: 1 = as much detail as the truth, below 1 = blur, above 1 =
    noise or invented detail."""
    mask = mask.astype(bool)
    p = percentile_normalise(prediction, mask)
    t = percentile_normalise(truth, mask)
    sigma = (HIGH_PASS_SIGMA, HIGH_PASS_SIGMA, 0.0)
    high_p = p - ndimage.gaussian_filter(p, sigma, mode="reflect")
    high_t = t - ndimage.gaussian_filter(t, sigma, mode="reflect")
    return float(np.mean(high_p[mask] ** 2) / max(np.mean(high_t[mask] ** 2), 1e-12))


def paper_metrics(prediction: np.ndarray, truth: np.ndarray, brain: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM as synthesis papers on BraTS report them, for comparison with published tables only.

    Skull-stripped (zero outside the brain), each volume min-max scaled to [0, 1] over the brain, then PSNR and
    SSIM over whole axial slices (every slice holding brain), background included: the zero background both
    share raises the numbers well above the in-brain metric of `image_metrics`.
    """
    brain = brain.astype(bool)
    slices = np.flatnonzero(brain.any(axis=(0, 1)))
    if slices.size == 0:
        raise ValueError("paper_metrics: empty brain mask")

    def stripped(volume: np.ndarray) -> np.ndarray:
        low, high = volume[brain].min(), volume[brain].max()
        scaled = np.clip((volume - low) / max(high - low, 1e-8), 0.0, 1.0)
        return np.where(brain, scaled, 0.0)[..., slices]

    p, t = stripped(prediction), stripped(truth)
    mse = float(np.mean((p - t) ** 2))
    return {
        "paper_psnr": float(10 * np.log10(1.0 / max(mse, 1e-12))),
        "paper_ssim": float(ssim_map(p, t, PLANES["axial"]).mean()),
    }
