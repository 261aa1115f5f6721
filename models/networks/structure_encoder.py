"""Per-contrast multi-scale structure (content) encoder E_j^str of MSG-LDM.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``ContentEncoder``: four stages, each an entry convolution (stride 1 in the first stage, 2 after),
two residual convolutions (the first with dropout) and a High-Frequency Injection Block.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from models.networks.conv_unit import conv_unit
from models.networks.hfib import HighFrequencyInjectionBlock

logger = logging.getLogger(__name__)

NUM_SCALES = 4
"""Scales of the structure pyramid: resolutions 1, 1/2, 1/4, 1/8 with widths base * (1, 2, 4, 8)."""


def scale_channels(base_channels: int) -> tuple[int, ...]:
    """Return the widths of the four structure scales, base * (1, 2, 4, 8)."""
    return tuple(base_channels * 2**level for level in range(NUM_SCALES))


class EncoderStage(nn.Module):
    """One encoder stage: entry conv, residual pair of convs, HFIB.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: input channels.
        out_channels: output channels.
        strides: stride of the entry convolution (1 or 2).
        dropout: dropout of the first residual convolution (0.3 in the reference).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, strides: int, dropout: float):
        super().__init__()
        self.entry = conv_unit(spatial_dims, in_channels, out_channels, strides=strides)
        self.residual = nn.Sequential(
            conv_unit(spatial_dims, out_channels, out_channels, dropout=dropout),
            conv_unit(spatial_dims, out_channels, out_channels),
        )
        self.hfib = HighFrequencyInjectionBlock(spatial_dims, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C_in, *S) to (B, C_out, *S / strides)."""
        entry = self.entry(x)
        return self.hfib(self.residual(entry) + entry)


class StructureEncoder(nn.Module):
    """Multi-scale structure encoder of one contrast.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of the contrast image (1).
        base_channels: width of the first scale; the scales are base * (1, 2, 4, 8) wide (32 in the reference).
        dropout: dropout inside the residual convolutions.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, base_channels: int = 32, dropout: float = 0.3):
        super().__init__()
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        widths = scale_channels(base_channels)
        self.out_channels = widths
        stages = []
        previous = in_channels
        for level, width in enumerate(widths):
            stages.append(EncoderStage(spatial_dims, previous, width, strides=1 if level == 0 else 2, dropout=dropout))
            previous = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encode one contrast into its structure pyramid.

        Args:
            x: image (B, in_channels, H, W).

        Returns:
            Four maps S^1..S^4 of shapes (B, base * 2**l, H / 2**l, W / 2**l), l = 0..3.
        """
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
