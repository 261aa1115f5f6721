"""Stage 2, second generation: the residual diffusion over the frozen mean network (models/diffusion/residual.py).

The frozen autoencoder and mean network run once per (slice, availability pattern) into a bank (half the
patterns single-missing, as the mean was trained); training then draws from memory. x0 prediction, loss on the
missing contrasts' channels only, weighted min(SNR + 1, gamma); AdamW, EMA, the shared LR schedule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from models.build import build_ddim, build_ddpm, build_unet
from models.config import ModelConfig
from models.data.slices import SliceBank
from models.diffusion.latents import LatentCodec, latent_channel_mask
from models.diffusion.residual import ResidualCondition, make_residual_condition, min_snr_weights, refine_residual
from models.metrics import image_metrics
from models.training.latent_bank import (
    LatentBank,
    LatentBatch,
    build_latent_bank,
    load_latent_bank,
    reusable_latents,
    save_latent_bank,
    weights_fingerprint,
)
from models.training.mean_stage import mean_availability
from models.training.schedule import warmup_ema


class ResidualDiffusionStage:
    def __init__(self, config: ModelConfig, autoencoder, mean_network, seed: int = 0):
        t = config.training.diffusion
        self.config = config
        self.codec = LatentCodec(autoencoder, config.latent_scale)
        self.mean_network = mean_network.eval()
        for frozen in (autoencoder, mean_network):
            frozen.requires_grad_(False)
        self.unet = build_unet(config)
        self.ema = AveragedModel(self.unet, multi_avg_fn=warmup_ema(t.ema_decay or 0.999))
        self.scheduler = build_ddpm(config)
        self.modules = {"unet": self.unet, "ema": self.ema}
        self.optimizers = {
            "unet": torch.optim.AdamW(self.unet.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
        }
        self.generator = torch.Generator().manual_seed(seed)
        self.channels = len(config.contrasts) * self.codec.channels
        self.residual_scale = config.residual_scale

    def _condition(self, latents: torch.Tensor, images: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        return make_residual_condition(self.mean_network, self.codec, images, available, latents)[0].condition

    def latent_bank(self, bank: SliceBank, cache: Path | None = None, reuse: Path | None = None) -> LatentBank:
        """Latents and residual conditions of the training slices; sets the residual scale from them.

        With `cache`, a bank made from the same frozen weights and settings is loaded from there (else built and
        saved there): on two CPU cores building it costs more than an hour. With `reuse`, a bank of another mean
        over the same autoencoder and slices gives the latents, so only the conditions are made (about half).
        """
        d = self.config.diffusion
        key = {
            "weights": weights_fingerprint(self.codec.autoencoder, self.mean_network),
            "latent_scale": self.codec.scale,
            "patterns": d.bank_patterns,
            "slice_stride": d.bank_slice_stride,
            "slices": len(bank),
        }
        latent_bank = load_latent_bank(cache, key) if cache is not None else None
        if latent_bank is None:
            known = None
            if reuse is not None:
                known = reusable_latents(reuse, self.codec, bank, d.bank_slice_stride)
            latent_bank = build_latent_bank(
                bank,
                self.codec,
                self._condition,
                store_conditions=True,
                patterns=d.bank_patterns,
                availability_fn=mean_availability,
                slice_stride=d.bank_slice_stride,
                batch_size=32,
                progress=cache.with_name(cache.stem + ".progress.pt") if cache is not None else None,
                progress_key=key,
                known_latents=known,
            )
            if cache is not None:
                save_latent_bank(latent_bank, cache, key)
        self.residual_scale = residual_scale_of(latent_bank, self.codec.channels)
        return latent_bank

    def _targets(self, batch: LatentBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scaled clean residual, the missing-channel mask and the condition of a batch."""
        missing = ~latent_channel_mask(batch.available, self.codec.channels)
        base = batch.condition[:, : self.channels]
        residual = torch.where(missing, batch.latents - base, 0.0) * self.residual_scale
        return residual, missing, batch.condition

    def _loss(self, unet, batch: LatentBatch, generator: torch.Generator) -> torch.Tensor:
        residual, missing, condition = self._targets(batch)
        noise = torch.randn(residual.shape, generator=generator)
        t = torch.randint(0, self.scheduler.num_train_timesteps, (residual.shape[0],), generator=generator)
        noisy = torch.where(missing, self.scheduler.add_noise(residual, noise, t), 0.0)
        predicted = unet(torch.cat([noisy, condition], dim=1), timesteps=t)
        weights = torch.clamp(
            min_snr_weights(self.scheduler, t, float("inf")) + 1.0, max=self.config.diffusion.min_snr_gamma
        )
        error = ((predicted - residual) ** 2 * missing).flatten(1).sum(1) / missing.flatten(1).sum(1).clamp_min(1)
        error = error / (residual.shape[-1] * residual.shape[-2])
        return torch.mean(weights * error)

    def train_step(self, batch: LatentBatch, step: int) -> dict[str, float]:
        loss = self._loss(self.unet, batch, self.generator)
        self.optimizers["unet"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.optimizers["unet"].step()
        self.ema.update_parameters(self.unet)
        return {"loss": float(loss.detach())}

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """Each contrast hidden alone on fixed validation slices: the mean, and the mean refined by the EMA UNet's
        one-step estimate (decoded with the mean's latent, and added to the mean image: `image_residual`), in the
        evaluation's metric (the refinement must gain on the mean)."""
        index = slice(None, None, max(1, len(bank) // 16))
        images = torch.from_numpy(bank.images[index].astype("float32"))
        brain = np.moveaxis(bank.brain_mask[index].astype(bool), 0, -1)
        scheduler = build_ddim(self.config)
        scheduler.set_timesteps(1)
        rows = {"mean": [], "refined": [], "refined_image": []}
        contrasts = len(self.config.contrasts)
        for j in range(contrasts):
            available = torch.ones(images.shape[0], contrasts, dtype=torch.bool)
            available[:, j] = False
            condition, mean_images = make_residual_condition(self.mean_network, self.codec, images, available)
            latents = refine_residual(self.ema.module, scheduler, condition, None, residual_scale=self.residual_scale)
            c = self.codec.channels
            refined = self.codec.decode(latents[:, j * c : (j + 1) * c])[:, 0]
            base = self.codec.decode(condition.base[:, j * c : (j + 1) * c])[:, 0]
            refined_image = (mean_images[:, j] + refined - base).clamp(-1.0, 1.0)
            truth = np.moveaxis(images[:, j].numpy(), 0, -1)
            for name, volume in (("mean", mean_images[:, j]), ("refined", refined), ("refined_image", refined_image)):
                rows[name].append(image_metrics(np.moveaxis(volume.numpy(), 0, -1), truth, brain))
        return {
            f"{name}_{k}": float(np.mean([r[k] for r in scores]))
            for name, scores in rows.items()
            for k in ("psnr", "ssim")
        }


def residual_scale_of(bank: LatentBank, latent_channels: int, samples: int = 512) -> float:
    """1 / std of the residual (clean latents minus the condition's base) on missing channels of stored slices."""
    index = torch.arange(0, len(bank), max(1, len(bank) // samples))
    channels = bank.latents.shape[1]
    values = []
    for k in range(bank.available.shape[1]):
        available = bank.available[index, k]
        missing = ~latent_channel_mask(available, latent_channels)
        residual = bank.latents[index].float() - bank.conditions[index, k, :channels].float()
        values.append(residual[missing.expand_as(residual)])
    return float(1.0 / torch.cat(values).std().clamp_min(1e-6))


__all__ = ["ResidualCondition", "ResidualDiffusionStage", "residual_scale_of"]
