"""Whole-head shells around the brain: extra-axial CSF, skull, diploe, muscle, scalp fat, skin.

Clinical scanners image the whole head; BraTS and WMH ship skull-stripped
brains. The shells are bands of the signed distance to a smooth brain
envelope, their thicknesses varied smoothly per subject, with partial volume
at every boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.fields import smooth_noise


@dataclass(frozen=True)
class HeadParameters:
    """Shell thicknesses in mm, from the brain outwards."""

    extra_csf_mm: float
    inner_table_mm: float
    diploe_mm: float
    outer_table_mm: float
    temporalis_mm: float
    fat_mm: float
    skin_mm: float
    thickness_seed: int


def sample_head(rng: np.random.Generator) -> HeadParameters:
    return HeadParameters(
        extra_csf_mm=float(rng.uniform(2.0, 4.0)),
        inner_table_mm=float(rng.uniform(1.2, 2.0)),
        diploe_mm=float(rng.uniform(1.5, 3.5)),
        outer_table_mm=float(rng.uniform(1.2, 2.0)),
        temporalis_mm=float(rng.uniform(4.0, 9.0)),
        fat_mm=float(rng.uniform(3.0, 6.0)),
        skin_mm=float(rng.uniform(1.0, 2.0)),
        thickness_seed=int(rng.integers(2**31)),
    )


def _band(distance: np.ndarray, start: np.ndarray | float, stop: np.ndarray | float) -> np.ndarray:
    """Fraction of each 1 mm voxel lying between two distances (linear partial volume)."""
    return np.clip(distance - start + 0.5, 0, 1) - np.clip(distance - stop + 0.5, 0, 1)


def head_fractions(
    envelope_distance_mm: np.ndarray, world_mm: np.ndarray, params: HeadParameters
) -> dict[str, np.ndarray]:
    """Fraction maps of the extra-cerebral tissues and of the superior sagittal sinus.

    `world_mm` (3, X, Y, Z) are RAS coordinates; the temporalis muscle sits
    laterally above the ears, the sinus on the midline at the vertex.
    """
    rng = np.random.default_rng(params.thickness_seed)
    shape = envelope_distance_mm.shape
    vary = 1.0 + 0.12 * np.clip(smooth_noise(shape, rng, control_points=5), -2, 2)
    d = envelope_distance_mm
    x, y, z = world_mm
    edges = np.cumsum(
        [
            params.extra_csf_mm * vary,
            params.inner_table_mm * vary,
            params.diploe_mm * vary,
            params.outer_table_mm * vary,
        ],
        axis=0,
    )
    temporal = np.clip((np.abs(x) - 45) / 15, 0, 1) * np.clip(1 - np.abs(z - 5) / 35, 0, 1)
    muscle_stop = edges[3] + params.temporalis_mm * temporal + 0.8
    fat_stop = muscle_stop + params.fat_mm * vary
    skin_stop = fat_stop + params.skin_mm
    fractions = {
        "extra_csf": _band(d, -6.0, edges[0]),
        "bone": _band(d, edges[0], edges[1]) + _band(d, edges[2], edges[3]),
        "marrow": _band(d, edges[1], edges[2]),
        "muscle": _band(d, edges[3], muscle_stop),
        "fat": _band(d, muscle_stop, fat_stop),
        "skin": _band(d, fat_stop, skin_stop),
    }
    midline = np.exp(-(x**2) / (2 * 3.0**2)) * np.clip((z + 10) / 20, 0, 1) * np.clip((y - 60) / -20, 0, 1)
    fractions["vessel"] = np.clip(midline * _band(d, edges[0] - 4.0, edges[0] + 0.5), 0, 1).astype(np.float32)
    return {k: v.astype(np.float32) for k, v in fractions.items()}
