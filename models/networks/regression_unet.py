"""The regression U-Net: missing contrasts regressed from the present ones (the baseline, and the ablation's mean).

Input: the contrasts (missing ones zeroed) and one availability map per contrast; output: every contrast.
"""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNet
from torch import nn

from models.networks.structure_mean import MeanOutput

FEATURES = (16, 32, 64, 128, 128, 16)
"""BasicUNet widths (encoder levels, then the last decoder level): about 2 M parameters."""


def build_regression_unet(contrasts: int) -> BasicUNet:
    return BasicUNet(spatial_dims=2, in_channels=2 * contrasts, out_channels=contrasts, features=FEATURES)


def regression_inputs(images: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    """(B, M, H, W) images and (B, M) availability -> (B, 2M, H, W): masked images, then availability maps."""
    maps = available.float()[:, :, None, None].expand_as(images)
    return torch.cat([torch.where(available[:, :, None, None], images, 0.0), maps], dim=1)


class RegressionMean(nn.Module):
    """The regression U-Net behind the mean network's interface, with no structure: the ablation's mean.

    `predict` gives the regression's images and an all-zero structure map of the mean network's shape, so the
    residual diffusion over it is the same network with the structure path removed.
    """

    def __init__(self, contrasts: int, structure_channels: int, downsample_factor: int = 8):
        super().__init__()
        self.network = build_regression_unet(contrasts)
        self.structure_channels, self.downsample_factor = structure_channels, downsample_factor

    def predict(self, images: torch.Tensor, available: torch.Tensor, wanted: list[int] | None = None):
        out = self.network(regression_inputs(images, available.bool())).clamp(-1.0, 1.0)
        if wanted is not None:
            return out[:, wanted]
        size = [s // self.downsample_factor for s in images.shape[-2:]]
        fused = images.new_zeros(images.shape[0], self.structure_channels, *size)
        empty = images.new_zeros(images.shape[0], images.shape[1], 0)
        return MeanOutput(out, fused, empty, empty, images.new_zeros(images.shape[0], 0, *images.shape[-2:]))
