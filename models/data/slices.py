"""Preprocessed cases cached as axial slices, and random batches of them for training.

Preprocessing a case takes seconds; a training step takes a fraction of one.
Each case is therefore preprocessed once into `cache/<case>.npz` (float16
slices on the model grid) and all training slices of a run live in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from models.config import DataConfig
from models.data.layouts import CaseFiles
from models.data.preprocessing import to_model_grid

logger = logging.getLogger(__name__)


def load_case_on_grid(case: CaseFiles, config: DataConfig):
    """Read a case's NIfTI files (co-registered, one grid) and bring them to the model grid."""
    reference = nib.load(str(case.images[next(iter(case.images))]))
    volumes = {}
    for contrast, path in case.images.items():
        image = nib.load(str(path))
        if image.shape != reference.shape or not np.allclose(image.affine, reference.affine, atol=1e-3):
            raise ValueError(f"{path}: not on the grid of {case.images[next(iter(case.images))]} (co-register first)")
        volumes[contrast] = np.asarray(image.dataobj, dtype=np.float32)
    labels = np.asarray(nib.load(str(case.labels)).dataobj) if case.labels else None
    mask = np.asarray(nib.load(str(case.brain_mask)).dataobj) if case.brain_mask else None
    return to_model_grid(volumes, reference.affine, config, labels=labels, brain_mask=mask)


def cache_case(case: CaseFiles, config: DataConfig, cache_dir: Path) -> Path:
    """Write (once) the case's training slices: images (Z, C, S, S) float16, labels and brain mask (Z, S, S)."""
    path = Path(cache_dir) / f"{case.case_id}.npz"
    if path.is_file():
        return path
    grid = load_case_on_grid(case, config)
    missing = [c for c in config.contrasts if c not in grid.contrasts]
    if missing:
        raise ValueError(f"case {case.case_id} lacks {missing}: training needs every contrast of the model")
    keep = grid.slice_indices(config.min_foreground_fraction)
    images = np.moveaxis(grid.images[..., keep], -1, 0).astype(np.float16)
    size = images.shape[-2:]
    labels = grid.labels[..., keep] if grid.labels is not None else np.zeros((*size, keep.size), np.uint8)
    mask = grid.brain_mask[..., keep] if grid.brain_mask is not None else grid.foreground[..., keep]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        images=images,
        labels=np.moveaxis(labels, -1, 0).astype(np.uint8),
        brain_mask=np.moveaxis(mask, -1, 0).astype(np.uint8),
        slices=keep,
    )
    tmp.rename(path)
    logger.info("cached %s: %d slices", case.case_id, keep.size)
    return path


@dataclass
class SliceBatch:
    images: torch.Tensor
    labels: torch.Tensor
    brain_mask: torch.Tensor


class SliceBank:
    """All slices of a list of cached cases in memory, sampled at random with an explicit generator."""

    def __init__(self, cache_paths: list[Path]):
        if not cache_paths:
            raise ValueError("no cached case to train on")
        parts = [np.load(p) for p in cache_paths]
        self.images = np.concatenate([p["images"] for p in parts])
        self.labels = np.concatenate([p["labels"] for p in parts])
        self.brain_mask = np.concatenate([p["brain_mask"] for p in parts])

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, batch_size: int) -> SliceBatch:
        index = rng.integers(0, len(self), batch_size)
        return SliceBatch(
            torch.from_numpy(self.images[index].astype(np.float32)),
            torch.from_numpy(self.labels[index].astype(np.int64)),
            torch.from_numpy(self.brain_mask[index].astype(np.float32)),
        )
