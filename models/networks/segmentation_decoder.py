"""Shared segmentation decoder D_seg of MSG-LDM.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``MaskDecoder``: a U-Net-style decoder over the fused structure maps F4 -> F1 (before MSSE), which
forces the structure features to carry the tumour anatomy.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.networks.conv_unit import conv_unit

logger = logging.getLogger(__name__)


class UpStage(nn.Module):
    """Upsample to the skip's grid, conv unit, concatenate the skip, conv unit 3x3 then 1x1.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of the coarser input.
        skip_channels: channels of the skip map, also the output width.
    """

    def __init__(self, spatial_dims: int, in_channels: int, skip_channels: int):
        super().__init__()
        self.mode = "bilinear" if spatial_dims == 2 else "trilinear"
        self.reduce = conv_unit(spatial_dims, in_channels, skip_channels)
        self.merge = nn.Sequential(
            conv_unit(spatial_dims, 2 * skip_channels, skip_channels),
            conv_unit(spatial_dims, skip_channels, skip_channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Map (B, C_in, *S) and a skip (B, C_skip, *S') to (B, C_skip, *S')."""
        x = F.interpolate(x, size=skip.shape[2:], mode=self.mode, align_corners=False)
        return self.merge(torch.cat([self.reduce(x), skip], dim=1))


class SegmentationDecoder(nn.Module):
    """Decode the fused structure pyramid into segmentation logits.

    The output layer is a plain 1x1 convolution; the reference's ``GeneralConv2d`` ignored ``norm_type=False`` and
    ``act=False`` there, so its logits went through InstanceNorm and LeakyReLU.

    Args:
        spatial_dims: number of spatial dimensions.
        channels: widths of F1..F4, finest first (base * (1, 2, 4, 8)).
        num_classes: output channels (4: BG, WT, TC, ET).
    """

    def __init__(self, spatial_dims: int, channels: Sequence[int], num_classes: int = 4):
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"channels needs at least two scales, got {tuple(channels)}")
        coarse_to_fine = list(reversed(channels))
        self.stages = nn.ModuleList(
            [UpStage(spatial_dims, c_in, c_skip) for c_in, c_skip in itertools.pairwise(coarse_to_fine)]
        )
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.to_logits = conv(channels[0], num_classes, kernel_size=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decode.

        Args:
            features: fused maps F1..F4 (finest first), F_l of shape (B, C_l, *S_l).

        Returns:
            Logits (B, num_classes, *S_1).
        """
        x = features[-1]
        for stage, skip in zip(self.stages, reversed(features[:-1]), strict=True):
            x = stage(x, skip)
        return self.to_logits(x)
