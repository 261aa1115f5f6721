"""Moving a volume between two voxel grids of the same patient space, by their affines."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def resample_to_grid(
    volume: np.ndarray,
    source_affine: np.ndarray,
    target_affine: np.ndarray,
    target_shape: tuple[int, int, int],
    order: int = 1,
    cval: float = 0.0,
) -> np.ndarray:
    """Sample `volume` (on `source_affine`) at every voxel centre of the target grid.

    Both affines map voxel indices to the same millimetre space (RAS or LPS,
    as long as it is the same); points outside the source get `cval`.
    """
    mapping = np.linalg.inv(np.asarray(source_affine, dtype=np.float64)) @ np.asarray(target_affine, dtype=np.float64)
    index = np.indices(target_shape, dtype=np.float32).reshape(3, -1)
    coords = mapping[:3, :3].astype(np.float32) @ index + mapping[:3, 3:4].astype(np.float32)
    out = ndimage.map_coordinates(np.asarray(volume, dtype=np.float32), coords, order=order, mode="constant", cval=cval)
    return out.reshape(target_shape)
