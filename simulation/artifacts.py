"""What the scanner adds to the ideal signal: bias field, through-plane blur, Rician noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from simulation.fields import smooth_noise


def bias_field(shape: tuple[int, int, int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth multiplicative field, exp of smooth noise, about +-`strength` (e.g. 0.15)."""
    return np.exp(strength * np.clip(smooth_noise(shape, rng, control_points=4), -2.5, 2.5)).astype(np.float32)


def slice_blur(volume: np.ndarray, thickness_mm: float, axis: int, spacing_mm: float = 1.0) -> np.ndarray:
    """Through-plane partial volume of a thick slice: a box profile of the slice thickness along `axis`."""
    width = thickness_mm / spacing_mm
    if width <= 1.0:
        return volume
    return ndimage.uniform_filter1d(volume, size=int(round(width)), axis=axis, mode="nearest").astype(np.float32)


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
