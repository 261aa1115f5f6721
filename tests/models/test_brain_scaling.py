"""The intensity scale set by the brain, not the scalp: found without a brain mask, blind to scalp brightness."""

import numpy as np

from models.config import DataConfig
from models.data.preprocessing import central_box, to_model_grid


def _phantom(scalp: float) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoidal 'head': brain (values 100-200) inside a 12 mm shell of scalp at `scalp`."""
    shape = (150, 180, 140)
    grid = np.indices(shape).astype(np.float32)
    centre = np.array(shape, dtype=np.float32)[:, None, None, None] / 2
    radii = np.array([70, 85, 65], dtype=np.float32)[:, None, None, None]
    r = np.sqrt((((grid - centre) / radii) ** 2).sum(axis=0))
    brain = r < 0.82
    volume = np.where(r < 1.0, scalp, 0.0).astype(np.float32)
    texture = 100 + 100 * (np.sin(grid[0] / 3) * np.cos(grid[1] / 4) + 1) / 2
    volume[brain] = texture[brain]
    return volume, brain


def test_central_box_lies_in_the_brain():
    volume, brain = _phantom(scalp=900.0)
    box = central_box(volume > 0, 0.4)
    assert box.sum() > 0.05 * brain.sum()
    assert not (box & ~brain).any()


def test_brain_scaling_ignores_the_scalp_and_head_scaling_does_not():
    affine = np.eye(4)
    brain_config = DataConfig(intensity_reference="brain", spacing_mm=2.0, image_size=96)
    head_config = DataConfig(intensity_reference="head", spacing_mm=2.0, image_size=96)
    results = {}
    for scalp in (300.0, 900.0):
        volume, _ = _phantom(scalp)
        for name, config in (("brain", brain_config), ("head", head_config)):
            grid = to_model_grid({"t1": volume}, affine, config)
            results[name, scalp] = grid.image("t1")
    box = central_box(grid.foreground, brain_config.brain_box_fraction)
    assert np.allclose(results["brain", 300.0][box], results["brain", 900.0][box], atol=1e-4)
    assert not np.allclose(results["head", 300.0][box], results["head", 900.0][box], atol=0.05)
    # The brain's 90th percentile lands at brain_level of [0, 1], i.e. -0.2 on [-1, 1].
    level = np.percentile(results["brain", 900.0][box], brain_config.brain_percentile)
    assert abs(level - (2 * brain_config.brain_level - 1)) < 0.01
