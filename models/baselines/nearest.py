"""Baseline 1: the nearest present contrast, intensity-matched.

For a missing contrast, take the present contrast most alike in physics
(T1ce for T1 and back, FLAIR for T2 and back), and map its intensities onto
the missing contrast's by quantile mapping learned on training subjects.
Anything a model synthesizes should beat this.
"""

from __future__ import annotations

import numpy as np

from models.data.preprocessing import ModelGridVolume

PREFERENCE: dict[str, tuple[str, ...]] = {
    "t1": ("t1ce", "t2", "flair"),
    "t1ce": ("t1", "flair", "t2"),
    "t2": ("flair", "t1", "t1ce"),
    "flair": ("t2", "t1", "t1ce"),
}
LEVELS = np.linspace(0, 100, 101)


def nearest_present(missing: str, present: tuple[str, ...]) -> str:
    for candidate in PREFERENCE.get(missing, ()):
        if candidate in present:
            return candidate
    if not present:
        raise ValueError("no contrast present")
    return present[0]


class NearestContrastBaseline:
    """Quantile maps between every pair of contrasts, averaged over training subjects."""

    name = "nearest"

    def __init__(self, quantiles: dict[str, np.ndarray]):
        self.quantiles = quantiles

    @classmethod
    def fit(cls, grids: list[ModelGridVolume]) -> NearestContrastBaseline:
        if not grids:
            raise ValueError("the nearest-contrast baseline needs training subjects to learn intensity maps from")
        per_contrast: dict[str, list[np.ndarray]] = {}
        for grid in grids:
            mask = grid.brain_mask.astype(bool) if grid.brain_mask is not None else grid.foreground
            for contrast in grid.contrasts:
                per_contrast.setdefault(contrast, []).append(np.percentile(grid.image(contrast)[mask], LEVELS))
        return cls({c: np.mean(q, axis=0) for c, q in per_contrast.items()})

    def predict(self, grid: ModelGridVolume, missing: list[str]) -> dict[str, np.ndarray]:
        mask = grid.brain_mask.astype(bool) if grid.brain_mask is not None else grid.foreground
        out = {}
        for target in missing:
            source = nearest_present(target, grid.contrasts)
            image = grid.image(source)
            own = np.percentile(image[mask], LEVELS)
            # Subject's own quantiles -> level -> the target contrast's typical value at that level.
            level = np.interp(image, np.maximum.accumulate(own), LEVELS)
            mapped = np.interp(level, LEVELS, self.quantiles[target])
            out[target] = np.where(grid.foreground, mapped, -1.0).astype(np.float32)
        return out
