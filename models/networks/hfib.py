"""High-Frequency Injection Block (HFIB) of MSG-LDM.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``EdgeEnhanceSingle``: the high frequencies of a feature map are its unsharp-mask residual
``C - G_sigma(C)``, with one learnable scalar sigma per block, and they are injected by ``conv3x3(concat[C, edge])``.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


class LearnableGaussianBlur(nn.Module):
    """Depthwise Gaussian blur whose standard deviation is one learnable scalar.

    The kernel is normalised to sum to one and the input is padded by replication, so the blur of a constant map is
    that constant everywhere, borders included (the reference pads with zeros, which darkens the borders and makes
    the high-pass respond to the image edge itself).

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        kernel_size: odd kernel size (3 in the reference).
        init_sigma: initial standard deviation in pixels.
        min_sigma: lower clamp of the standard deviation.
    """

    def __init__(self, spatial_dims: int = 2, kernel_size: int = 3, init_sigma: float = 1.0, min_sigma: float = 1e-3):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        if init_sigma < min_sigma:
            raise ValueError(f"init_sigma must be >= min_sigma={min_sigma}, got {init_sigma}")
        self.spatial_dims = spatial_dims
        self.kernel_size = kernel_size
        self.min_sigma = min_sigma
        self.sigma = nn.Parameter(torch.tensor(float(init_sigma)))
        coords = torch.arange(kernel_size, dtype=torch.float32) - kernel_size // 2
        grids = torch.meshgrid(*([coords] * spatial_dims), indexing="ij")
        self.register_buffer("squared_radius", sum(g**2 for g in grids), persistent=False)

    def kernel(self) -> torch.Tensor:
        """Return the normalised kernel, shape (k,) * spatial_dims, differentiable in sigma."""
        sigma = torch.clamp(self.sigma, min=self.min_sigma)
        kernel = torch.exp(-self.squared_radius / (2 * sigma**2))
        return kernel / kernel.sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Blur every channel separately.

        Args:
            x: feature map (B, C, *S).

        Returns:
            Blurred map (B, C, *S).
        """
        channels = x.shape[1]
        weight = self.kernel().to(x.dtype).expand(channels, 1, *([self.kernel_size] * self.spatial_dims))
        half = self.kernel_size // 2
        padded = F.pad(x, [half] * (2 * self.spatial_dims), mode="replicate")
        conv = F.conv2d if self.spatial_dims == 2 else F.conv3d
        return conv(padded, weight, groups=channels)


class HighFrequencyInjectionBlock(nn.Module):
    """HFIB: re-inject the Gaussian high-pass of a feature map, ``LeakyReLU_0.05(conv3x3(concat[C, C - G(C)]))``.

    The paper writes the block additively, ``S = C + (C - G(C))``; the reference code (which produced the paper's
    numbers) concatenates and convolves instead, and that is what is implemented here.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        channels: channels of the feature map, unchanged by the block.
        kernel_size: Gaussian kernel size (3 in the reference).
        init_sigma: initial Gaussian standard deviation (1.0 in the reference).
        negative_slope: LeakyReLU slope of the output (0.05 in the reference).
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        kernel_size: int = 3,
        init_sigma: float = 1.0,
        negative_slope: float = 0.05,
    ):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.blur = LearnableGaussianBlur(spatial_dims, kernel_size=kernel_size, init_sigma=init_sigma)
        conv_type = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.conv = conv_type(2 * channels, channels, kernel_size=3, padding=1)
        self.act = nn.LeakyReLU(negative_slope)

    def high_frequency(self, x: torch.Tensor) -> torch.Tensor:
        """Return the high-frequency residual ``x - G_sigma(x)``, (B, C, *S); zero on a constant map."""
        return x - self.blur(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhance the structure of a feature map.

        Args:
            x: feature map C, (B, C, *S).

        Returns:
            Enhanced feature map S, (B, C, *S).
        """
        return self.act(self.conv(torch.cat([x, self.high_frequency(x)], dim=1)))
