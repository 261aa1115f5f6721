"""What the diffusion UNet is conditioned on, shared by training and inference (inference imports no training)."""

from __future__ import annotations

import torch

from models.config import ModelConfig
from models.diffusion.latents import latent_channel_mask


def diffusion_condition(
    config: ModelConfig, structure, latents: torch.Tensor, images: torch.Tensor, available: torch.Tensor
) -> torch.Tensor:
    """What is concatenated to the noisy latents: F_s, or (ablation) masked latents and availability maps."""
    if config.diffusion.use_structure:
        return structure.structure(torch.where(available[:, :, None, None], images, 0.0), available)
    mask = latent_channel_mask(available, config.autoencoder.latent_channels)
    maps = available.float()[:, :, None, None].expand(-1, -1, *latents.shape[-2:])
    return torch.cat([torch.where(mask, latents, 0.0), maps], dim=1)
