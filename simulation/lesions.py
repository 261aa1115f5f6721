"""Lesions painted into a subject's tissue fractions: gliomas and white-matter hyperintensities.

Gliomas follow the BraTS labels (1 necrotic core, 2 edema, 4 enhancing
tumour); WMH follow the WMH challenge (label 1). Parameters are drawn apart
from painting, so every subject records what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.fields import smooth_noise


@dataclass(frozen=True)
class GliomaParameters:
    """Centre in voxels, radii and thicknesses in mm."""

    centre_voxel: tuple[int, int, int]
    radius_mm: float
    rim_mm: float
    solid: bool
    edema_mm: float
    mass_effect: float
    texture: float
    seed: int


@dataclass(frozen=True)
class WmhParameters:
    """Blob centres in voxels and radii in mm."""

    centres_voxel: tuple[tuple[int, int, int], ...]
    radii_mm: tuple[float, ...]
    seed: int


def _pick(rng: np.random.Generator, candidates: np.ndarray) -> tuple[int, int, int]:
    index = np.flatnonzero(candidates)
    if index.size == 0:
        raise ValueError("no voxel satisfies the lesion placement rule; the template is not a brain")
    return tuple(int(i) for i in np.unravel_index(rng.choice(index), candidates.shape))


def sample_glioma(rng: np.random.Generator, wm: np.ndarray, envelope_distance_mm: np.ndarray) -> GliomaParameters:
    """A glioma seeded in deep white matter; about one in five is solidly enhancing."""
    deep_wm = (wm > 0.9) & (envelope_distance_mm < -22)
    radius = float(rng.uniform(8, 22))
    return GliomaParameters(
        centre_voxel=_pick(rng, deep_wm),
        radius_mm=radius,
        rim_mm=float(rng.uniform(2, 6)),
        solid=bool(rng.random() < 0.2),
        edema_mm=float(rng.uniform(8, 25)),
        mass_effect=float(rng.uniform(0.4, 0.8)),
        texture=float(rng.uniform(0.08, 0.12)),
        seed=int(rng.integers(2**31)),
    )


def sample_wmh(rng: np.random.Generator, wm: np.ndarray, csf: np.ndarray, envelope_distance_mm: np.ndarray):
    """0-11 small blobs in white matter, most of them periventricular."""
    from scipy import ndimage

    count = int(rng.integers(0, 12))
    ventricles = (csf > 0.6) & (envelope_distance_mm < -18)
    near_ventricles = ndimage.binary_dilation(ventricles, iterations=6) & (wm > 0.7)
    deep = (wm > 0.85) & (envelope_distance_mm < -12)
    centres = [_pick(rng, near_ventricles if rng.random() < 0.65 else deep) for _ in range(count)]
    radii = tuple(float(r) for r in rng.uniform(1.5, 5.0, count))
    return WmhParameters(tuple(centres), radii, int(rng.integers(2**31)))


def _soft_inside(distance: np.ndarray, radius: np.ndarray | float) -> np.ndarray:
    """Partial-volume inside fraction of a (perturbed) sphere surface."""
    return np.clip(radius - distance + 0.5, 0.0, 1.0)


def paint_glioma(fractions: dict[str, np.ndarray], params: GliomaParameters) -> tuple[np.ndarray, np.ndarray]:
    """Replace tissue by necrosis / enhancing tumour / edema in place; return (labels, texture).

    The margin is irregular (the distance is perturbed by smooth noise); edema
    spreads mostly in white matter. The anatomy must already carry the mass
    effect (deformation.mass_effect_coordinates).
    """
    rng = np.random.default_rng(params.seed)
    shape = fractions["wm"].shape
    grid = np.indices(shape, dtype=np.float32)
    offset = grid - np.asarray(params.centre_voxel, dtype=np.float32).reshape(3, 1, 1, 1)
    distance = np.sqrt((offset**2).sum(axis=0))
    margin = distance * (1.0 + 0.15 * np.clip(smooth_noise(shape, rng, control_points=9), -2.5, 2.5))
    lobes = distance * (1.0 + 0.3 * np.clip(smooth_noise(shape, rng, control_points=7), -2, 2))

    tumour = _soft_inside(margin, params.radius_mm)
    necrosis = np.zeros_like(tumour) if params.solid else _soft_inside(margin, params.radius_mm - params.rim_mm)
    enhancing = tumour - necrosis
    # Edema fades over several millimetres rather than stopping at a surface.
    zone = np.clip((params.radius_mm + params.edema_mm - lobes) / 6.0 + 0.5, 0.0, 1.0) * (1.0 - tumour)

    for name in ("wm", "gm", "csf", "choroid", "wmh"):
        if name in fractions:
            fractions[name] = fractions[name] * (1.0 - tumour)
    edema = zone * (0.95 * fractions["wm"] + 0.35 * fractions["gm"])
    fractions["wm"] = fractions["wm"] - zone * 0.95 * fractions["wm"]
    fractions["gm"] = fractions["gm"] - zone * 0.35 * fractions["gm"]
    fractions["necrosis"] = necrosis.astype(np.float32)
    fractions["enhancing"] = enhancing.astype(np.float32)
    fractions["edema"] = edema.astype(np.float32)

    labels = np.zeros(shape, dtype=np.uint8)
    labels[(zone >= 0.5) & (edema >= 0.25)] = 2
    labels[(enhancing >= 0.5) | ((tumour >= 0.5) & (enhancing >= necrosis))] = 4
    labels[necrosis >= 0.5] = 1
    texture = (params.texture * np.clip(smooth_noise(shape, rng, control_points=24), -2.5, 2.5)).astype(np.float32)
    return labels, texture


def paint_wmh(fractions: dict[str, np.ndarray], params: WmhParameters) -> np.ndarray:
    """Turn white matter into WMH inside each blob in place; return the WMH label map (1)."""
    rng = np.random.default_rng(params.seed)
    shape = fractions["wm"].shape
    wmh = np.zeros(shape, dtype=np.float32)
    for centre, radius in zip(params.centres_voxel, params.radii_mm):
        box = tuple(slice(max(c - 8, 0), min(c + 9, s)) for c, s in zip(centre, shape))
        local = np.indices([b.stop - b.start for b in box], dtype=np.float32)
        starts = np.asarray([b.start for b in box], dtype=np.float32).reshape(3, 1, 1, 1)
        offset = local + starts - np.asarray(centre, dtype=np.float32).reshape(3, 1, 1, 1)
        distance = np.sqrt((offset**2).sum(axis=0)) * rng.uniform(0.85, 1.15)
        wmh[box] = np.maximum(wmh[box], _soft_inside(distance, radius))
    wmh = wmh * fractions["wm"]
    fractions["wm"] = fractions["wm"] - wmh
    fractions["wmh"] = wmh
    return (wmh >= 0.4).astype(np.uint8)
