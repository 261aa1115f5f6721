"""Per-subject geometry: a random affine plus an elastic warp, and the mass effect of a tumour.

Every map is an inverse map: for each output voxel it gives the template voxel
to sample (`scipy.ndimage.map_coordinates`), so warps compose by evaluating
one map at the coordinates produced by the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from simulation.fields import smooth_noise


@dataclass(frozen=True)
class WarpParameters:
    """Affine (scale, rotation in degrees, translation in mm) and elastic amplitude in mm."""

    scale: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    elastic_mm: float
    elastic_seed: int


def sample_warp(rng: np.random.Generator) -> WarpParameters:
    """About 8 % scale, 6 degrees of rotation, a few mm of shift, a few mm of elastic warp."""
    return WarpParameters(
        scale=tuple(float(s) for s in np.clip(1.0 + 0.05 * rng.standard_normal(3), 0.88, 1.12)),
        rotation_deg=tuple(float(r) for r in np.clip(4.0 * rng.standard_normal(3), -8, 8)),
        translation_mm=tuple(float(t) for t in rng.uniform(-3, 3, 3)),
        elastic_mm=float(rng.uniform(1.5, 4.0)),
        elastic_seed=int(rng.integers(2**31)),
    )


def _rotation_matrix(degrees: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def warp_coordinates(shape: tuple[int, int, int], params: WarpParameters) -> np.ndarray:
    """Template voxel coordinates (3, X, Y, Z) to sample for each subject voxel (1 mm grid).

    The affine acts about the grid centre; the elastic part is smooth noise
    with `elastic_mm` standard deviation per axis.
    """
    centre = (np.asarray(shape, dtype=np.float64) - 1) / 2
    inverse = np.linalg.inv(_rotation_matrix(params.rotation_deg) @ np.diag(params.scale))
    grid = np.indices(shape, dtype=np.float32).reshape(3, -1)
    moved = inverse @ (grid - centre[:, None] - np.asarray(params.translation_mm)[:, None]) + centre[:, None]
    coords = moved.astype(np.float32).reshape(3, *shape)
    rng = np.random.default_rng(params.elastic_seed)
    for axis in range(3):
        coords[axis] += params.elastic_mm * smooth_noise(shape, rng, control_points=7)
    return coords


def mass_effect_coordinates(
    shape: tuple[int, int, int], centre_voxel: np.ndarray, radius_mm: float, reach_mm: float = 40.0
) -> np.ndarray:
    """Pre-push coordinates (3, X, Y, Z) of a volume-conserving radial push by a sphere.

    Inserting a sphere of radius R moves tissue at distance d from d0 with
    d^3 = d0^3 + R^3 (incompressible medium); the push fades to nothing over
    `reach_mm` beyond the lesion so that the skull does not move.
    """
    grid = np.indices(shape, dtype=np.float32)
    offset = grid - np.asarray(centre_voxel, dtype=np.float32).reshape(3, 1, 1, 1)
    distance = np.sqrt((offset**2).sum(axis=0)) + 1e-3
    source = np.cbrt(np.maximum(distance**3 - radius_mm**3, 0.0))
    fade = np.clip(1.0 - (distance - radius_mm) / reach_mm, 0.0, 1.0) ** 2
    fade = np.where(distance < radius_mm, 1.0, fade)
    new_distance = distance - (distance - source) * fade
    return (grid + offset * (new_distance / distance - 1.0)).astype(np.float32)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Coordinates of `outer` evaluated at `inner`: apply `inner` first, then `outer`."""
    return np.stack([ndimage.map_coordinates(outer[a], inner, order=1, mode="nearest") for a in range(3)])


def resample(volume: np.ndarray, coords: np.ndarray, cval: float = 0.0) -> np.ndarray:
    """Trilinear sampling of a volume at voxel coordinates."""
    return ndimage.map_coordinates(volume, coords, order=1, mode="constant", cval=cval).astype(np.float32)
