"""A picture of one simulated subject: the four contrasts in three planes through the lesion, with its labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulation import CONTRASTS
from simulation.subject import Subject, acquire

TITLES = {"t1": "T1", "t1ce": "T1ce (post-Gd)", "t2": "T2", "flair": "FLAIR"}


def _planes(volume: np.ndarray, centre: tuple[int, int, int]) -> list[np.ndarray]:
    """Axial, coronal and sagittal slices through `centre`, oriented as a radiologist views them (RAS array)."""
    x, y, z = centre
    return [np.rot90(volume[:, :, z]), np.rot90(volume[:, y, :]), np.rot90(volume[x, :, :])]


def save_preview(subject: Subject, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = subject.labels
    centre = tuple(int(c) for c in np.argwhere(labels > 0).mean(axis=0)) if labels.any() else (98, 116, 90)
    images = {c: acquire(subject, c) for c in CONTRASTS}
    fig, axes = plt.subplots(3, 5, figsize=(15, 9.6), facecolor="black")
    for col, contrast in enumerate(CONTRASTS):
        vmax = np.percentile(images[contrast][subject.brain_mask > 0], 99.5) * 1.15
        for row, plane in enumerate(_planes(images[contrast], centre)):
            axes[row, col].imshow(plane, cmap="gray", vmin=0, vmax=vmax, interpolation="bilinear")
        axes[0, col].set_title(TITLES[contrast], color="white", fontsize=13)
    colours = np.zeros((*labels.shape, 4))
    for value, rgba in ((1, (1, 0.2, 0.2, 0.9)), (2, (0.2, 0.9, 0.2, 0.6)), (4, (1, 0.9, 0.1, 0.9))):
        colours[labels == value] = rgba
    for row, (gray, overlay) in enumerate(zip(_planes(images["t1ce"], centre), _planes(colours, centre))):
        axes[row, 4].imshow(gray, cmap="gray", vmin=0, vmax=np.percentile(images["t1ce"], 99.7))
        axes[row, 4].imshow(overlay)
    axes[0, 4].set_title("labels: 1 necrosis, 2 edema, 4 enhancing", color="white", fontsize=10)
    for ax in axes.flat:
        ax.axis("off")
    p = subject.params
    fig.suptitle(
        f"Simulated {p.kind} subject, {p.field_strength_t} T, T1 {p.protocols['t1'].kind.upper()}, "
        f"FLAIR {p.protocols['flair'].kind}, {'whole head' if p.whole_head else 'skull-stripped'}",
        color="white",
        fontsize=12,
    )
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=70, facecolor="black")
    plt.close(fig)
    return out
