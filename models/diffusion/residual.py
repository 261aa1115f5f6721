"""Second-generation stage 2: latent diffusion of the residual over the structure network's mean.

As NVIDIA's CorrDiff diffuses over a regression mean: the mean network predicts the missing contrasts
deterministically; what the diffusion learns is the residual r = z - b in the autoencoder's latent space, where
b holds the present contrasts' own latents and the mean's latents for the missing ones. The UNet sees the noisy
residual with, concatenated, b, one availability map per contrast and the structure map F_s (MSG-LDM's
condition, brought to the latent grid), and predicts the clean residual (x0): its one-step estimate at the
noisiest step is a deterministic refinement of the mean; a few DDIM steps give a sample. The present contrasts'
residual is zero by construction and stays so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from monai.networks.schedulers import DDIMScheduler
from torch import nn

from models.diffusion.latents import LatentCodec, latent_channel_mask


@dataclass
class ResidualCondition:
    """What the residual UNet is conditioned on, for one batch of slices."""

    base: torch.Tensor
    """(B, M * c, h, w) scaled latents: present contrasts' own, the mean's for missing ones."""
    condition: torch.Tensor
    """(B, M * c + M + C_s, h, w): base, availability maps, F_s resized to the latent grid."""
    missing_mask: torch.Tensor
    """(B, M * c, 1, 1) bool: the channels of missing contrasts (the only ones the residual touches)."""


def residual_condition_channels(contrasts: int, latent_channels: int, structure_channels: int) -> int:
    return contrasts * latent_channels + contrasts + structure_channels


@torch.no_grad()
def make_residual_condition(
    mean_network: nn.Module,
    codec: LatentCodec,
    images: torch.Tensor,
    available: torch.Tensor,
    present_latents: torch.Tensor | None = None,
) -> tuple[ResidualCondition, torch.Tensor]:
    """The condition for a batch, and the mean images (B, M, H, W) it was made from.

    Only present contrasts are encoded (a missing contrast's pixels are never read); the mean is encoded for the
    missing ones. `present_latents` (B, M * c, h, w), the images' latents when the caller has them already (the
    training bank), spares encoding the present contrasts again: only the missing ones' means are encoded.
    """
    output = mean_network.predict(images, available)
    mask = latent_channel_mask(available, codec.channels)
    if present_latents is None:
        base = codec.encode(torch.where(available[:, :, None, None], images, output.images))
    else:
        base = _with_missing_encoded(present_latents, output.images, available, codec)
    maps = available.float()[:, :, None, None].expand(-1, -1, *base.shape[-2:])
    structure = F.interpolate(output.fused, size=base.shape[-2:], mode="bilinear", align_corners=False)
    condition = torch.cat([base, maps, structure], dim=1)
    return ResidualCondition(base, condition, ~mask), output.images


def _with_missing_encoded(
    latents: torch.Tensor, means: torch.Tensor, available: torch.Tensor, codec: LatentCodec
) -> torch.Tensor:
    """`latents` with each missing contrast's channels replaced by the latent of its mean image."""
    b, m = available.shape
    base = latents.reshape(b, m, codec.channels, *latents.shape[-2:]).clone()
    rows, columns = torch.nonzero(~available.bool(), as_tuple=True)
    if len(rows):
        encoded = codec.encode(means[rows, columns][:, None])
        base[rows, columns] = encoded.to(base.dtype)
    return base.reshape(latents.shape)


def min_snr_weights(scheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma loss weights for x0 prediction: min(SNR(t), gamma) (Hang et al. 2023)."""
    alphas = scheduler.alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alphas / (1.0 - alphas)
    return torch.clamp(snr, max=gamma)


Progress = Callable[[int, int], None]


@torch.no_grad()
def refine_residual(
    unet: nn.Module,
    scheduler: DDIMScheduler,
    condition: ResidualCondition,
    noise: torch.Tensor | None,
    *,
    residual_scale: float = 1.0,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Latents (B, M * c, h, w): base plus the residual (the UNet works on it times `residual_scale`), sampled
    with the scheduler's timesteps from `noise`.

    With `noise` None the result is deterministic: the UNet's clean-residual estimate at the noisiest timestep
    from a zero input (the noise's mean), one network evaluation.
    """
    missing = condition.missing_mask
    if noise is None:
        start = torch.full((condition.base.shape[0],), scheduler.num_train_timesteps - 1, dtype=torch.long)
        x0 = unet(torch.cat([torch.zeros_like(condition.base), condition.condition], 1), timesteps=start)
        if progress is not None:
            progress(1, 1)
        return condition.base + torch.where(missing, x0, 0.0) / residual_scale
    x = torch.where(missing, noise, 0.0)
    total = len(scheduler.timesteps)
    for index, t in enumerate(scheduler.timesteps):
        timestep = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        x0 = unet(torch.cat([x, condition.condition], dim=1), timesteps=timestep)
        x, _ = scheduler.step(x0, int(t), x, eta=eta, generator=generator)
        x = torch.where(missing, x, 0.0)
        if progress is not None:
            progress(index + 1, total)
    return condition.base + x / residual_scale
