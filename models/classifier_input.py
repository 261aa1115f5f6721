"""What the contrast classifier sees: a volume's central foreground slices on the model grid, downsampled.

Shared by the classifier (`models.contrast_classifier`) and the making of its
examples from DICOM studies (`models.classifier_studies`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional

from models.config import DataConfig
from models.data.preprocessing import to_model_grid

CONTRASTS = ("t1", "t1ce", "t2", "flair")
OTHER = "other"
CLASSES = (*CONTRASTS, OTHER)
"""The classifier's classes: the four contrasts, and "other" (none of them)."""

INPUT_SIZE = 64
CENTRAL_FRACTION = 0.5
"""Slices used: the central half of the foreground slices (the brain, not the vertex or the neck)."""


def central_slices(volume: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """(Z', 1, 64, 64) float32: the central foreground slices of a model-grid volume (S, S, Z), downsampled."""
    fraction = foreground.mean(axis=(0, 1))
    slices = np.flatnonzero(fraction >= 0.03)
    if slices.size == 0:
        raise ValueError("no foreground slice: nothing to classify")
    keep = max(1, int(round(slices.size * CENTRAL_FRACTION)))
    chosen = slices[(slices.size - keep) // 2 :][:keep]
    x = torch.from_numpy(np.moveaxis(volume[..., chosen], -1, 0)[:, None].astype(np.float32))
    return functional.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area").numpy()


def volume_slices(volume: np.ndarray, affine: np.ndarray, data: DataConfig) -> np.ndarray:
    """One volume (any grid, any unit) to the classifier's input slices, by the synthesis preprocessing."""
    grid = to_model_grid({data.contrasts[0]: volume}, affine, data)  # the key only names the channel
    return central_slices(grid.images[0], grid.foreground)


def other_volumes(t2: np.ndarray, brain_mask: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """A subject's "other" series on its T2's grid: the DWI trace at b = 1000 (FLAIR's dark CSF) and the ADC map a
    scanner computes from it (T2's bright CSF), by the simulator's diffusion model."""
    from simulation.diffusion import adc_from_dwi, dwi_sources

    kind = "glioma" if (labels > 0).any() else "healthy"
    dwi = dwi_sources(t2, brain_mask, labels.astype(int), kind, (0, 1000))
    floor = 0.05 * float(np.percentile(dwi[0][brain_mask > 0], 99))
    return {"dwi b1000": dwi[1000], "adc": adc_from_dwi(dwi[0], dwi[1000], 1000.0, floor)}
