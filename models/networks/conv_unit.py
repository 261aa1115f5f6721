"""The convolution unit that the MSG-LDM structure network is built from.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026).
The reference code calls it ``GeneralConv2d``: convolution, dropout, InstanceNorm (no affine), LeakyReLU(0.01).
"""

from __future__ import annotations

import logging

from monai.networks.blocks import Convolution

logger = logging.getLogger(__name__)

LEAKY_SLOPE = 0.01
"""Negative slope of the LeakyReLU used throughout the structure network (reference value)."""


def conv_unit(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    strides: int = 1,
    dropout: float = 0.0,
) -> Convolution:
    """Build conv -> dropout -> InstanceNorm -> LeakyReLU(0.01), the reference ``GeneralConv2d``.

    Padding keeps the size for odd kernels and halves it exactly for a 4x4 kernel with stride 2 (the reference pads
    4x4 kernels by 2, which gives H/2+1; the only consumer, the style encoder, pools globally afterwards).

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: convolution kernel size.
        strides: convolution stride.
        dropout: element-wise dropout probability applied before the normalisation.

    Returns:
        A MONAI ``Convolution`` block mapping (B, in_channels, *S) to (B, out_channels, *S / strides).
    """
    padding = (kernel_size - 1) // 2
    return Convolution(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        strides=strides,
        kernel_size=kernel_size,
        padding=padding,
        adn_ordering="DNA",
        act=("leakyrelu", {"negative_slope": LEAKY_SLOPE}),
        norm="instance",
        dropout=dropout if dropout > 0 else None,
    )
