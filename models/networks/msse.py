"""Multi-Scale Structure Enhancement (MSSE) of MSG-LDM.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``MultiScaleDynamicFusion``: the coarsest fused map F4 attends to the sum of the finer maps F1..F3
brought to its grid, and ``F_s = F4 + alpha * attention``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


class MultiScaleStructureEnhancement(nn.Module):
    """Cross-scale attention from the coarsest structure map to the finer ones.

    F1..F3 are resized (bilinear, no corner alignment) to F4's grid, projected by 1x1 convolutions to the output
    width and summed into S. ``Q = 1x1(LayerNorm(F4))``, ``K, V = 1x1(S)``, multi-head attention over the tokens of
    F4's grid, a 1x1 output projection, ``F_s = F4 + alpha * out``.

    The reference projects at full resolution and then resizes; a 1x1 convolution commutes with bilinear resizing
    (the interpolation weights sum to one), so resizing first gives the same map for a fraction of the cost.
    When ``out_channels`` differs from F4's width, F4 is brought to it by an extra 1x1 projection in the residual.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        in_channels: widths of F1..F4 (finest first).
        out_channels: width C_s of the enhanced map; None means F4's width (256 in the reference).
        num_heads: attention heads (4 in the reference); must divide ``out_channels``.
        alpha: fixed weight of the attention output (0.5 in the reference).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: Sequence[int],
        out_channels: int | None = None,
        num_heads: int = 4,
        alpha: float = 0.5,
    ):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(in_channels) < 2:
            raise ValueError(f"in_channels needs at least two scales, got {tuple(in_channels)}")
        coarse = in_channels[-1]
        out_channels = coarse if out_channels is None else out_channels
        if out_channels % num_heads != 0:
            raise ValueError(f"out_channels={out_channels} is not divisible by num_heads={num_heads}")
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.spatial_dims = spatial_dims
        self.num_heads = num_heads
        self.alpha = alpha
        self.interp_mode = "bilinear" if spatial_dims == 2 else "trilinear"
        self.fine_projections = nn.ModuleList([conv(c, out_channels, 1) for c in in_channels[:-1]])
        self.residual = nn.Identity() if out_channels == coarse else conv(coarse, out_channels, 1)
        self.norm = nn.LayerNorm(coarse)
        self.query = conv(coarse, out_channels, 1)
        self.key = conv(out_channels, out_channels, 1)
        self.value = conv(out_channels, out_channels, 1)
        self.out = conv(out_channels, out_channels, 1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *S) -> (B, heads, N, C / heads), heads taking consecutive channel groups as in the reference."""
        batch, channels = x.shape[:2]
        return x.reshape(batch, self.num_heads, channels // self.num_heads, -1).transpose(-1, -2)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Enhance the coarsest fused map with the finer ones.

        Args:
            features: fused maps F1..F4, F_l of shape (B, C_l, *S_l), the last one the coarsest.

        Returns:
            F_s of shape (B, out_channels, *S_4).
        """
        if len(features) != len(self.fine_projections) + 1:
            raise ValueError(f"expected {len(self.fine_projections) + 1} scales, got {len(features)}")
        coarse = features[-1]
        size = coarse.shape[2:]
        structure = sum(
            proj(F.interpolate(f, size=size, mode=self.interp_mode, align_corners=False))
            for proj, f in zip(self.fine_projections, features[:-1], strict=True)
        )
        normed = self.norm(coarse.movedim(1, -1)).movedim(-1, 1)
        q = self._heads(self.query(normed))
        k = self._heads(self.key(structure))
        v = self._heads(self.value(structure))
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, C / heads), scale (C / heads) ** -0.5
        attended = attended.transpose(-1, -2).reshape(coarse.shape[0], -1, *size)
        return self.residual(coarse) + self.alpha * self.out(attended)
