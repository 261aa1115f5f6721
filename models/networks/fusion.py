"""Multi-Modal Structure Fusion (MMSF) of MSG-LDM, one scale.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``attm1..4`` / ``fusion1..4`` of ``DisentangleModel``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn

from models.networks.conv_unit import conv_unit

logger = logging.getLogger(__name__)


class MultiModalStructureFusion(nn.Module):
    """Fuse the structure maps of M contrasts at one scale with one spatial gate per contrast.

    ``A = sigmoid(conv3x3(concat_j S_j))`` gives a (B, M, *S) gate; ``F = conv1x1(concat_j A_j * S_j)``. As in the
    reference, both convolutions are full conv units (conv, InstanceNorm, LeakyReLU(0.01)); the sigmoid follows the
    gate unit. Missing contrasts are expected to arrive as all-zero maps (the caller masks them).

    Args:
        spatial_dims: number of spatial dimensions.
        channels: channels C of every contrast's map and of the fused map.
        num_contrasts: number of contrasts M.
    """

    def __init__(self, spatial_dims: int, channels: int, num_contrasts: int):
        super().__init__()
        if channels < 1 or num_contrasts < 1:
            raise ValueError(f"channels and num_contrasts must be >= 1, got {channels} and {num_contrasts}")
        self.num_contrasts = num_contrasts
        self.gate = conv_unit(spatial_dims, channels * num_contrasts, num_contrasts, kernel_size=3)
        self.fuse = conv_unit(spatial_dims, channels * num_contrasts, channels, kernel_size=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Fuse one scale.

        Args:
            features: M maps S_j, each (B, C, *S), missing contrasts zeroed.

        Returns:
            Fused map F (B, C, *S).
        """
        if len(features) != self.num_contrasts:
            raise ValueError(f"expected {self.num_contrasts} contrast maps, got {len(features)}")
        gates = torch.sigmoid(self.gate(torch.cat(list(features), dim=1)))
        gated = [feature * gates[:, j : j + 1] for j, feature in enumerate(features)]
        return self.fuse(torch.cat(gated, dim=1))
