"""The frozen networks' outputs for every training slice, computed once before the diffusion stage.

With the autoencoder and the structure network frozen, encoding four
contrasts and running the structure path cost about six times the UNet's own
training step on a CPU. Each slice is therefore encoded once and its structure
map F_s computed for a few availability patterns drawn at random (so that the
training set as a whole covers every pattern); training then samples
(slice, pattern) pairs from memory.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.data.slices import SliceBank
from models.diffusion.latents import LatentCodec, random_availability

logger = logging.getLogger(__name__)

ConditionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(latents, images, available) -> the condition the UNet is given."""


@dataclass
class LatentBatch:
    latents: torch.Tensor
    """(B, M * c, h, w) scaled clean latents of all contrasts."""
    condition: torch.Tensor
    """(B, C, h, w) what is concatenated to the noisy latents."""
    available: torch.Tensor
    """(B, M) which contrasts the condition was made from."""


class LatentBank:
    """Clean latents of every slice and conditions for `patterns` availability masks per slice, in float16.

    Args:
        latents: (N, M * c, h, w).
        available: (N, K, M) bool.
        conditions: (N, K, C, h, w), or None when the condition is cheap enough to make per batch.
        condition_fn: makes a condition from latents when `conditions` is None.
    """

    def __init__(
        self,
        latents: torch.Tensor,
        available: torch.Tensor,
        conditions: torch.Tensor | None,
        condition_fn: ConditionFn | None = None,
    ):
        if conditions is None and condition_fn is None:
            raise ValueError("a latent bank needs stored conditions or a function to make them")
        self.latents, self.available, self.conditions, self.condition_fn = latents, available, conditions, condition_fn

    def __len__(self) -> int:
        return len(self.latents)

    def sample(self, rng: np.random.Generator, batch_size: int) -> LatentBatch:
        index = torch.from_numpy(rng.integers(0, len(self), batch_size))
        pattern = torch.from_numpy(rng.integers(0, self.available.shape[1], batch_size))
        latents = self.latents[index].float()
        available = self.available[index, pattern]
        if self.conditions is not None:
            condition = self.conditions[index, pattern].float()
        else:
            condition = self.condition_fn(latents, None, available)
        return LatentBatch(latents, condition, available)


@torch.no_grad()
def build_latent_bank(
    bank: SliceBank,
    codec: LatentCodec,
    condition_fn: ConditionFn,
    store_conditions: bool,
    patterns: int = 4,
    batch_size: int = 64,
    seed: int = 0,
    availability_fn: Callable[[int, int, torch.Generator], torch.Tensor] = random_availability,
    slice_stride: int = 1,
    progress: Path | None = None,
    progress_key: dict | None = None,
    progress_every: int = 16,
    known_latents: torch.Tensor | None = None,
) -> LatentBank:
    """Encode every `slice_stride`-th slice of `bank` and (if `store_conditions`) its conditions for `patterns`
    masks drawn by `availability_fn(count, contrasts, generator)`.

    `known_latents`, those slices' latents from an earlier bank of the same autoencoder (`reusable_latents`),
    spares encoding them again: only the conditions are made.

    With `progress`, what is done is saved there every `progress_every` batches (with `progress_key`), and a
    build stopped midway goes on from it; the file is removed when the bank is complete.
    """
    generator = torch.Generator().manual_seed(seed)
    chosen = np.arange(0, len(bank), slice_stride)
    contrasts = bank.images.shape[1]
    available = availability_fn(len(chosen) * patterns, contrasts, generator).reshape(len(chosen), patterns, contrasts)
    latents, conditions, first = [], [], 0
    if progress is not None and progress.is_file():
        saved = torch.load(progress, map_location="cpu", weights_only=True)
        if saved.get("key") == progress_key:
            latents, first = [saved["latents"]], saved["done"]
            conditions = [saved["conditions"]] if store_conditions else []
            logger.info("latent bank: going on from %d of %d slices (%s)", first, len(chosen), progress)
    starts = range(first, len(chosen), batch_size)
    for count, start in enumerate(tqdm(starts, desc="latent bank", mininterval=10), start=1):
        images = torch.from_numpy(bank.images[chosen[start : start + batch_size]].astype(np.float32))
        z = codec.encode(images) if known_latents is None else known_latents[start : start + len(images)].float()
        latents.append(z.half())
        if store_conditions:
            per_pattern = [
                condition_fn(z, images, available[start : start + len(images), k]).half() for k in range(patterns)
            ]
            conditions.append(torch.stack(per_pattern, dim=1))
        if progress is not None and count % progress_every == 0 and start + batch_size < len(chosen):
            latents = [torch.cat(latents)]
            conditions = [torch.cat(conditions)] if store_conditions else []
            done = {"key": progress_key, "done": start + batch_size, "latents": latents[0]}
            _save_whole(progress, {**done, "conditions": conditions[0] if store_conditions else None})
    stored = torch.cat(conditions) if store_conditions else None
    logger.info(
        "latent bank: %d slices x %d availability patterns%s",
        len(chosen),
        patterns,
        f", {stored.numel() * 2 / 2**20:.0f} MiB of conditions" if stored is not None else "",
    )
    if progress is not None:
        progress.unlink(missing_ok=True)
    return LatentBank(torch.cat(latents), available, stored, None if store_conditions else condition_fn)


def reusable_latents(
    path: Path, codec: LatentCodec, bank: SliceBank, slice_stride: int, check: int = 4
) -> torch.Tensor | None:
    """The clean latents of an earlier bank at `path` if they are this bank's slices through this autoencoder.

    Checked, not trusted: the count must match and `check` slices spread over the bank, encoded again, must give
    the stored latents (to fp16 rounding). A bank made with another mean but the same autoencoder passes.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no latent bank to take latents from")
    latents = torch.load(path, map_location="cpu", weights_only=True)["latents"]
    chosen = np.arange(0, len(bank), slice_stride)
    if len(latents) != len(chosen):
        logger.info("latent bank at %s has %d slices, not %d: latents encoded again", path, len(latents), len(chosen))
        return None
    probe = np.linspace(0, len(chosen) - 1, check).astype(int)
    images = torch.from_numpy(bank.images[chosen[probe]].astype(np.float32))
    error = (codec.encode(images) - latents[probe].float()).abs().max()
    tolerance = 1e-2 * max(1.0, float(latents[probe].float().abs().max()))
    if float(error) > tolerance:
        logger.info("latent bank at %s is of another autoencoder (%.3g): latents encoded again", path, float(error))
        return None
    logger.info("latent bank: latents of %d slices taken from %s", len(latents), path)
    return latents


def _save_whole(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".partial")
    torch.save(data, part)
    part.replace(path)


def weights_fingerprint(*modules: torch.nn.Module) -> str:
    """A digest of the modules' weights: a cached bank is valid only for the frozen networks that made it."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_latent_bank(bank: LatentBank, path: Path, key: dict) -> None:
    """Keep a bank with stored conditions on disk (a stage restarted on the same machine skips the encoding)."""
    if bank.conditions is None:
        raise ValueError("only a bank with stored conditions can be cached")
    _save_whole(path, {"key": key, "latents": bank.latents, "available": bank.available, "conditions": bank.conditions})


def load_latent_bank(path: Path, key: dict) -> LatentBank | None:
    """The bank cached at `path` if it was made with `key`, else None."""
    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("key") != key:
        logger.info("latent bank at %s was made from other weights or settings: built again", path)
        return None
    logger.info("latent bank: %d slices from %s", len(saved["latents"]), path)
    return LatentBank(saved["latents"], saved["available"], saved["conditions"])
