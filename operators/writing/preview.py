"""preview.png: the study's real contrasts and the synthetic ones side by side, a few axial slices.

What a PACS admin opens to see at a glance that the node did something
sensible: one column per contrast (T1, T1ce, T2, FLAIR), synthetic columns
titled in red, three slices through the brain, radiological convention
(patient's right on the image's left, anterior up).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from operators.identification.scenario import CONTRASTS  # noqa: E402

LEVELS = (0.35, 0.55, 0.75)
"""Slices shown, as fractions of the synthetic volume's extent along the head-foot axis."""

TITLES = {"t1": "T1", "t1ce": "T1ce", "t2": "T2", "flair": "FLAIR"}


def _display(volume: np.ndarray, k: int) -> np.ndarray:
    """Axial slice k of a RAS-ordered volume as an image: anterior up, patient's right on the left."""
    return volume[:, :, k].T[::-1, ::-1]


def _scaled(volume: np.ndarray) -> np.ndarray:
    """Real intensities to [0, 1] by their 99.5th percentile over the non-zero voxels."""
    values = volume[volume > 0]
    top = np.percentile(values, 99.5) if values.size else 1.0
    return np.clip(volume / (top or 1.0), 0.0, 1.0)


def write_preview(
    present: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], path: Path, title: str = ""
) -> Path:
    """Draw real (`present`, any unit) and `synthetic` ([0, 1]) volumes of one RAS grid into `path` (PNG).

    Args:
        present: acquired contrasts on the grid.
        synthetic: synthesized contrasts on the same grid.
        path: the PNG to write.
        title: a line above the panels (e.g. the scenario).

    Returns:
        `path`.
    """
    if not synthetic:
        raise ValueError("no synthetic volume to preview")
    shape = next(iter(synthetic.values())).shape
    depth = np.flatnonzero(np.any(np.stack([v > 0.05 for v in synthetic.values()]), axis=(0, 1, 2)))
    low, high = (depth[0], depth[-1]) if depth.size else (0, shape[2] - 1)
    slices = [int(round(low + f * (high - low))) for f in LEVELS]
    columns = [c for c in CONTRASTS if c in present or c in synthetic]
    figure, axes = plt.subplots(len(slices), len(columns), figsize=(2.4 * len(columns), 2.6 * len(slices)))
    axes = np.atleast_2d(axes)
    for col, contrast in enumerate(columns):
        volume = synthetic[contrast] if contrast in synthetic else _scaled(present[contrast])
        for row, k in enumerate(slices):
            ax = axes[row, col]
            ax.imshow(_display(volume, k), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                synthetic_column = contrast in synthetic
                ax.set_title(
                    f"{TITLES[contrast]} {'SYNTHETIC' if synthetic_column else 'acquired'}",
                    color="red" if synthetic_column else "black",
                    fontsize=10,
                )
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
