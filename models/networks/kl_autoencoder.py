"""Stage 0, second generation: MONAI's continuous `AutoencoderKL` at f = 4, shared by all contrasts.

The f = 8 VQ autoencoder capped every later stage near 19 dB inside the brain (one latent pixel covered 14 mm);
at f = 4 with a continuous latent, as MONAI's 2D LDM tutorial and MAISI use, the round trip is the first number
measured. The latent the diffusion sees is the posterior mean: deterministic, so a slice encodes the same way
in training and at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import AutoencoderKL
from torch import nn


class KLAutoencoder(nn.Module):
    """Single-channel `AutoencoderKL` with the interface the latent codec uses (`encode`, `decode`, factor f).

    No attention (at 32x32 latents a mid-block attention costs more than it adds on two cores).
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128),
        num_res_blocks: int = 1,
        latent_channels: int = 4,
        norm_num_groups: int = 16,
    ):
        super().__init__()
        self.network = AutoencoderKL(
            spatial_dims=2,
            in_channels=1,
            out_channels=1,
            channels=tuple(channels),
            latent_channels=latent_channels,
            num_res_blocks=(num_res_blocks,) * len(channels),
            attention_levels=(False,) * len(channels),
            norm_num_groups=norm_num_groups,
            with_encoder_nonlocal_attn=False,
            with_decoder_nonlocal_attn=False,
        )
        self.latent_channels = latent_channels
        self.downsample_factor = 2 ** (len(channels) - 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, c, H/f, W/f): the posterior mean."""
        mean, _ = self.network.encode(x)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.network.decode(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction from a posterior sample, with the posterior's mean and standard deviation."""
        mean, sigma = self.network.encode(x)
        return self.network.decode(self.network.sampling(mean, sigma)), mean, sigma


def kl_divergence(mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, sigma) || N(0, 1)) summed over the latent, averaged over the batch (MONAI tutorials' form)."""
    kl = 0.5 * (mean.pow(2) + sigma.pow(2) - torch.log(sigma.pow(2) + 1e-12) - 1.0)
    return kl.flatten(1).sum(dim=1).mean()
