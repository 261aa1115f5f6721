"""What the scanner adds to the ideal signal: bias field, through-plane blur, Rician noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from simulation.fields import smooth_noise


def bias_field(shape: tuple[int, int, int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth multiplicative field, exp of smooth noise, about +-`strength` (e.g. 0.15)."""
    return np.exp(strength * np.clip(smooth_noise(shape, rng, control_points=4), -2.5, 2.5)).astype(np.float32)


def slice_blur(volume: np.ndarray, thickness_mm: float, axis: int, spacing_mm: float = 1.0) -> np.ndarray:
    """Through-plane partial volume of a thick slice along `axis`.

    A Gaussian with the variance of the slice's box profile (width^2 / 12):
    unlike an even-width box filter it does not shift the image by half a voxel.
    """
    width = thickness_mm / spacing_mm
    if width <= 1.0:
        return volume
    sigma = np.sqrt(max(width**2 - 1.0, 0.0) / 12.0)
    return ndimage.gaussian_filter1d(volume, sigma=sigma, axis=axis, mode="nearest").astype(np.float32)


def rician_noise(volume: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise: what a magnitude image shows."""
    real = volume + sigma * rng.standard_normal(volume.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(volume.shape, dtype=np.float32)
    return np.sqrt(real * real + imaginary * imaginary).astype(np.float32)


def noise_sigma(volume: np.ndarray, mask: np.ndarray, snr: float) -> float:
    """Noise level that gives `snr` relative to the mean signal inside `mask`."""
    inside = volume[mask > 0.5]
    if inside.size == 0:
        raise ValueError("noise_sigma: the mask is empty")
    return float(inside.mean() / snr)
