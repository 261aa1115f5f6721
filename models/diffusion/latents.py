"""The latent space the diffusion works in: each contrast encoded alone by the shared autoencoder, stacked.

A batch of M contrasts (B, M, H, W) becomes (B, M * c, H/f, W/f), contrast j
holding channels [j*c, (j+1)*c). Latents are multiplied by `scale` (1 / their
standard deviation on training data, as in LDM) so the diffusion sees unit
variance; the reference uses 1.0 with its VQGAN.
"""

from __future__ import annotations

import torch

from models.networks.autoencoder import VQAutoencoder


class LatentCodec:
    """Encode and decode stacked per-contrast latents with a frozen autoencoder."""

    def __init__(self, autoencoder: VQAutoencoder, scale: float = 1.0):
        self.autoencoder = autoencoder.eval()
        self.scale = float(scale)
        self.channels = autoencoder.latent_channels

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, M, H, W) images in [-1, 1] -> (B, M * c, H/f, W/f) scaled quantized latents."""
        b, m, h, w = images.shape
        z = self.autoencoder.encode(images.reshape(b * m, 1, h, w))
        return z.reshape(b, m * self.channels, *z.shape[-2:]) * self.scale

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, M * c, h, w) scaled latents -> (B, M, h*f, w*f) images, clamped to [-1, 1]."""
        b, mc, h, w = latents.shape
        m = mc // self.channels
        x = self.autoencoder.decode(latents.reshape(b * m, self.channels, h, w) / self.scale)
        return x.reshape(b, m, *x.shape[-2:]).clamp(-1.0, 1.0)


def latent_channel_mask(available: torch.Tensor, latent_channels: int) -> torch.Tensor:
    """(B, M) availability -> (B, M * c, 1, 1) bool, true on the channels of present contrasts."""
    return available.bool().repeat_interleave(latent_channels, dim=1)[:, :, None, None]


def random_availability(batch: int, contrasts: int, generator: torch.Generator, min_present: int = 1) -> torch.Tensor:
    """Random availability masks: the number present uniform in [min_present, M], then a uniform subset.

    Stage 2 of the reference keeps 1-4 contrasts (all present included);
    stage 1 keeps 1-3 (`min_present`=1 with the full set excluded by the caller).
    """
    counts = torch.randint(min_present, contrasts + 1, (batch,), generator=generator)
    order = torch.rand(batch, contrasts, generator=generator).argsort(dim=1)
    ranks = order.argsort(dim=1)
    return ranks < counts[:, None]
