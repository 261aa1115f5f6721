"""Style encoder E_j^sty and AdaIN image decoder D_j^rec of MSG-LDM.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``StyleEncoder``, ``mlp``, ``adaptive_resblock`` and ``ImageDecoder``: each contrast is rebuilt from
the shared structure map F_s and that contrast's own low-dimensional style code.
"""

from __future__ import annotations

import itertools
import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from models.networks.conv_unit import LEAKY_SLOPE, conv_unit

logger = logging.getLogger(__name__)

ADAIN_EPS = 1e-5
"""Variance floor of the AdaIN normalisation (the reference divides by the raw std and can divide by zero)."""


class StyleEncoder(nn.Module):
    """Encode one contrast image into a style code.

    Conv units 7x7 (-> c), then four 4x4 stride-2 (c -> 2c -> 4c -> 4c -> 4c), global average pooling and a plain
    1x1 convolution (a linear map) to the code. The reference's last layer also applied InstanceNorm and LeakyReLU to
    the 1x1 map, which raises in current torch and would zero the code; here it is a plain linear head.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of the image (1).
        channels: base width c (32 in the reference).
        style_dim: length of the style code (8 in the reference).
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, channels: int = 32, style_dim: int = 8):
        super().__init__()
        widths = [channels, 2 * channels, 4 * channels, 4 * channels, 4 * channels]
        layers = [conv_unit(spatial_dims, in_channels, widths[0], kernel_size=7)]
        layers += [conv_unit(spatial_dims, a, b, kernel_size=4, strides=2) for a, b in itertools.pairwise(widths)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], style_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map an image (B, in_channels, *S) to its style code (B, style_dim); S must shrink 16x to > 1 voxel."""
        if math.prod(size // 16 for size in x.shape[2:]) <= 1:
            raise ValueError(
                f"style encoder input {tuple(x.shape[2:])} is too small: "
                "it must keep more than one pixel after 16x downsampling"
            )
        pooled = self.features(x).flatten(2).mean(dim=2)
        return self.head(pooled)


class StyleMLP(nn.Module):
    """Map a style code to the per-channel AdaIN parameters (mu, sigma).

    ``mlp(style_dim -> C -> C)`` with LeakyReLU(0.01), then two linear heads. As in the reference, mu is used as the
    AdaIN scale and sigma as the AdaIN shift, and the KL term treats them as (mean, std).

    Args:
        style_dim: length of the style code.
        channels: number of AdaIN channels C (256 in the reference).
    """

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(style_dim, channels),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(channels, channels),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
        self.to_mu = nn.Linear(channels, channels)
        self.to_sigma = nn.Linear(channels, channels)

    def forward(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map (B, style_dim) to mu (B, C) and sigma (B, C)."""
        hidden = self.body(style)
        return self.to_mu(hidden), self.to_sigma(hidden)


def adaptive_instance_norm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Normalise each channel of x over space and apply a per-sample scale and shift.

    Args:
        x: feature map (B, C, *S).
        scale: (B, C).
        shift: (B, C).

    Returns:
        (B, C, *S).
    """
    expand = (...,) + (None,) * (x.ndim - 2)
    return scale[expand] * F.instance_norm(x, eps=ADAIN_EPS) + shift[expand]


class AdaINResBlock(nn.Module):
    """Residual block modulated by AdaIN: ``x + AdaIN(unit(LeakyReLU(AdaIN(unit(x)))))``.

    Args:
        spatial_dims: number of spatial dimensions.
        channels: channels of the block.
    """

    def __init__(self, spatial_dims: int, channels: int):
        super().__init__()
        self.conv1 = conv_unit(spatial_dims, channels, channels)
        self.conv2 = conv_unit(spatial_dims, channels, channels)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Map (B, C, *S) to (B, C, *S) under the AdaIN parameters mu, sigma (B, C)."""
        h = self.act(adaptive_instance_norm(self.conv1(x), mu, sigma))
        return x + adaptive_instance_norm(self.conv2(h), mu, sigma)


class AdaINDecoder(nn.Module):
    """Rebuild one contrast from the structure map and its style code.

    ``mlp(style) -> (mu, sigma)``; 4 AdaIN residual blocks on F_s; 3 x [bilinear x2, conv5x5 halving the channels,
    InstanceNorm, LeakyReLU]; conv7x7; tanh. When F_s is narrower or wider than the decoder, a 1x1 convolution
    adapts it first (absent at the reference widths).

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: width C_s of the structure map.
        channels: decoder width C, also the AdaIN width (256 in the reference); divisible by 2**num_upsamples.
        out_channels: channels of the image (1).
        style_dim: length of the style code.
        num_res_blocks: AdaIN residual blocks (4).
        num_upsamples: x2 upsampling stages (3, from the 1/8 grid to full resolution).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 256,
        channels: int = 256,
        out_channels: int = 1,
        style_dim: int = 8,
        num_res_blocks: int = 4,
        num_upsamples: int = 3,
    ):
        super().__init__()
        if channels % 2**num_upsamples != 0:
            raise ValueError(f"channels={channels} must be divisible by 2**num_upsamples={2**num_upsamples}")
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        norm = nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d
        mode = "bilinear" if spatial_dims == 2 else "trilinear"
        self.input_projection = nn.Identity() if in_channels == channels else conv(in_channels, channels, 1)
        self.mlp = StyleMLP(style_dim, channels)
        self.res_blocks = nn.ModuleList([AdaINResBlock(spatial_dims, channels) for _ in range(num_res_blocks)])
        upsampling: list[nn.Module] = []
        width = channels
        for _ in range(num_upsamples):
            upsampling += [
                nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                conv(width, width // 2, kernel_size=5, padding=2),
                norm(width // 2),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
            width //= 2
        self.upsampling = nn.Sequential(*upsampling)
        self.to_image = conv(width, out_channels, kernel_size=7, padding=3)

    def forward(self, structure: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode one contrast.

        Args:
            structure: F_s (B, C_s, *S).
            style: style code (B, style_dim).

        Returns:
            image (B, out_channels, *S * 2**num_upsamples) in [-1, 1], AdaIN mu (B, C) and sigma (B, C).
        """
        mu, sigma = self.mlp(style)
        x = self.input_projection(structure)
        for block in self.res_blocks:
            x = block(x, mu, sigma)
        return torch.tanh(self.to_image(self.upsampling(x))), mu, sigma
