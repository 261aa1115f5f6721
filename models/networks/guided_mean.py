"""The structure-guided mean: the regression U-Net with MSG-LDM's multi-scale structure added at every scale.

Why (issue 17, fourth session): the structure network's own decoders rebuild each contrast from the fused
structure and a predicted style code, with no full-resolution path from the present images; a plain U-Net
regression, trained fairly, beat them by 2 dB on validation (5 dB for T1, which from a T1ce is nearly a copy).
Here the U-Net keeps that path, and the structure network's fused pyramid F1..F4 (built from the present
contrasts only, MMSF per scale) and its enhanced map F_s (MSSE) are added to the U-Net's encoder features at the
matching scales through 1x1 convolutions that start at zero: at initialisation the network *is* the regression
it was started from, and training decides what the structure adds. F_s is also what the residual diffusion is
conditioned on, as in MSG-LDM.
"""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNet
from torch import nn

from models.networks.regression_unet import FEATURES, build_regression_unet, regression_inputs
from models.networks.structure_mean import MeanOutput
from models.networks.structure_network import StructureNetwork


def structure_half(network: StructureNetwork) -> StructureNetwork:
    """The structure network without its style encoders and image decoders (training-only parts here)."""
    network.style_encoders = nn.ModuleList()
    network.image_decoders = nn.ModuleList()
    return network


def zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class StructureGuidedMean(nn.Module):
    """Missing contrasts from present ones: a BasicUNet whose encoder levels 0-3 receive F1..F4 (+ F_s at 1/8).

    Args:
        structure: a `StructureNetwork` (its encoders, MMSF, MSSE and segmentation decoder are used).
        contrasts: M.
    """

    def __init__(self, structure: StructureNetwork, contrasts: int):
        super().__init__()
        self.structure = structure_half(structure)
        self.network: BasicUNet = build_regression_unet(contrasts)
        widths = structure.scale_widths
        self.inject = nn.ModuleList([zero_conv(w, FEATURES[level]) for level, w in enumerate(widths)])
        self.inject_fused = zero_conv(structure.structure_channels, FEATURES[len(widths) - 1])
        self.structure_channels = structure.structure_channels

    def raw(self, images: torch.Tensor, available: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        """Unclamped images (B, M, H, W) (the training loss's view), F_s and the fused pyramid."""
        scales, fused = self.structure.pyramid(images, available)
        unet = self.network
        mask = available.to(device=images.device, dtype=torch.bool)
        x0 = unet.conv_0(regression_inputs(images, mask)) + self.inject[0](scales[0])
        x1 = unet.down_1(x0) + self.inject[1](scales[1])
        x2 = unet.down_2(x1) + self.inject[2](scales[2])
        x3 = unet.down_3(x2) + self.inject[3](scales[3]) + self.inject_fused(fused)
        x4 = unet.down_4(x3)
        u1 = unet.upcat_1(unet.upcat_2(unet.upcat_3(unet.upcat_4(x4, x3), x2), x1), x0)
        return unet.final_conv(u1), fused, scales

    def predict(self, images: torch.Tensor, available: torch.Tensor, wanted: list[int] | None = None):
        """As `StructureMeanNetwork.predict`: (B, len(wanted), H, W), or with `wanted` None a `MeanOutput`."""
        raw, fused, scales = self.raw(images, available)
        out = raw.clamp(-1.0, 1.0)
        if wanted is not None:
            return out[:, wanted]
        empty = images.new_zeros(images.shape[0], images.shape[1], 0)
        return MeanOutput(out, fused, empty, empty, self.structure.segmentation_decoder(scales))
