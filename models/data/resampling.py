"""Moving a volume between two voxel grids of the same patient space, by their affines.

MONAI's `SpatialResample` (torch `grid_sample`) does the sampling, as MONAI's
`Spacing` does on the way to the model grid: one toolkit for every grid change
of the product, on the threads torch is given. Inside the source's outermost
voxel centres it agrees with scipy's `map_coordinates` to float rounding; in
the outer half voxel it blends towards `cval` where scipy jumps to it.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import SpatialResample

_MODES = {0: "nearest", 1: "bilinear"}


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
    `order` is 0 (nearest) or 1 (trilinear).
    """
    if order not in _MODES:
        raise ValueError(f"order {order!r}: expected 0 (nearest) or 1 (trilinear)")
    source = torch.as_tensor(np.asarray(volume, dtype=np.float32) - np.float32(cval))
    image = MetaTensor(source[None], affine=torch.as_tensor(np.asarray(source_affine), dtype=torch.float64))
    resample = SpatialResample(mode=_MODES[order], padding_mode="zeros", align_corners=True, dtype=torch.float32)
    out = resample(
        image,
        dst_affine=torch.as_tensor(np.asarray(target_affine), dtype=torch.float64),
        spatial_size=tuple(int(n) for n in target_shape),
    )
    return np.asarray(out.as_tensor()[0].numpy(), dtype=np.float32) + np.float32(cval)
