"""MSG-LDM's structure network as a deterministic predictor of the missing contrasts: the mean the diffusion refines.

The reference rebuilds every contrast from F_s (the 1/8 map) and that contrast's own style code, read from its
ground-truth image: at inference a missing contrast has no image, so no style code, and the 1/8 map alone cannot
carry 1.75 mm detail. Here (second generation, issue 17):
- a small `StylePredictor` gives the missing contrasts' style codes from the present ones' codes and the mask;
- each contrast's decoder climbs from F_s back to full resolution with the fused finer scales F3, F2, F1 (built
  from present contrasts only) as U-Net skips, AdaIN-modulated by the style code at every level.
The structure encoders (with HFIB), MMSF and MSSE are the reference's, unchanged (`StructureNetwork`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.networks.conv_unit import LEAKY_SLOPE
from models.networks.structure_network import StructureNetwork
from models.networks.style import AdaINResBlock, StyleMLP, adaptive_instance_norm


class StylePredictor(nn.Module):
    """Style codes of every contrast: the present ones' own, the missing ones' predicted from those and the mask."""

    def __init__(self, num_contrasts: int, style_dim: int, hidden: int = 64):
        super().__init__()
        self.num_contrasts, self.style_dim = num_contrasts, style_dim
        self.net = nn.Sequential(
            nn.Linear(num_contrasts * (style_dim + 1), hidden),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(hidden, num_contrasts * style_dim),
        )

    def forward(self, codes: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """(B, M, D) codes (any value where missing) and (B, M) mask -> (B, M, D) predicted codes for all."""
        mask = available[:, :, None]
        known = torch.where(mask, codes, 0.0)
        inputs = torch.cat([known.flatten(1), available.float()], dim=1)
        return self.net(inputs).reshape(-1, self.num_contrasts, self.style_dim)


class SkipLevel(nn.Module):
    """x2 up, concatenate the fused scale of that resolution, two 3x3 convolutions with AdaIN after the first."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, style_dim: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv1 = nn.Conv2d(in_channels + skip_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.style = StyleMLP(style_dim, out_channels)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, shift = self.style(style)
        h = self.act(adaptive_instance_norm(self.conv1(torch.cat([self.up(x), skip], dim=1)), scale, shift))
        return self.act(self.conv2(h))


class SkipAdaINDecoder(nn.Module):
    """One contrast from F_s and the fused pyramid: AdaIN residual blocks at 1/8, then three skip levels."""

    def __init__(
        self, structure_channels: int, scale_widths: tuple[int, ...], channels: int, style_dim: int, res_blocks: int = 2
    ):
        super().__init__()
        self.input_projection = nn.Conv2d(structure_channels, channels, 1)
        self.style = StyleMLP(style_dim, channels)
        self.res_blocks = nn.ModuleList([AdaINResBlock(2, channels) for _ in range(res_blocks)])
        levels, width = [], channels
        for skip in reversed(scale_widths[:-1]):
            out = max(skip, width // 2)
            levels.append(SkipLevel(width, skip, out, style_dim))
            width = out
        self.levels = nn.ModuleList(levels)
        self.to_image = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, fused: torch.Tensor, scales: list[torch.Tensor], style: torch.Tensor) -> torch.Tensor:
        """F_s (B, C_s, h, w), scales F1..F4 (finest first), style (B, D) -> image (B, 1, 8h, 8w) in [-1, 1]."""
        mu, sigma = self.style(style)
        x = self.input_projection(fused)
        for block in self.res_blocks:
            x = block(x, mu, sigma)
        for level, skip in zip(self.levels, reversed(scales[:-1])):
            x = level(x, skip, style)
        return torch.tanh(self.to_image(x))


@dataclass
class MeanOutput:
    """One pass of the mean network.

    Attributes:
        images: every contrast predicted (B, M, H, W) in [-1, 1]; present ones rebuilt with their own style.
        fused: F_s (B, C_s, H/8, W/8), the structure the diffusion is conditioned on.
        style_codes: the codes the decoders used (B, M, D): own for present contrasts, predicted for missing.
        predicted_styles: the predictor's codes for every contrast (B, M, D).
        segmentation_logits: (B, K, H, W), the reference's auxiliary segmentation from the fused pyramid.
    """

    images: torch.Tensor
    fused: torch.Tensor
    style_codes: torch.Tensor
    predicted_styles: torch.Tensor
    segmentation_logits: torch.Tensor


class StructureMeanNetwork(StructureNetwork):
    """The structure network with skip decoders and a style predictor: missing contrasts from present ones only.

    Nothing of a missing contrast enters: its image is zeroed before its structure encoder (parent class), its style
    encoder is not run on it, and its code comes from the predictor. The parent's F_s-only AdaIN decoders are
    replaced.
    """

    def __init__(self, *args, decoder_res_blocks: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        style_dim = self.style_encoders[0].head.out_features
        channels = self.image_decoders[0].mlp.to_mu.out_features
        self.image_decoders = nn.ModuleList(
            [
                SkipAdaINDecoder(self.structure_channels, self.scale_widths, channels, style_dim, decoder_res_blocks)
                for _ in range(self.num_contrasts)
            ]
        )
        self.style_predictor = StylePredictor(self.num_contrasts, style_dim)

    def own_styles(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Style codes (B, M, D) of the present contrasts (zero where missing; a missing image is never read)."""
        codes = []
        for m, encoder in enumerate(self.style_encoders):
            present = mask[:, m : m + 1]
            if bool(present.any()):
                code = encoder(torch.where(present[:, :, None, None], images[:, m : m + 1], 0.0))
                codes.append(torch.where(present, code, 0.0))
            else:
                codes.append(images.new_zeros(images.shape[0], encoder.head.out_features))
        return torch.stack(codes, dim=1)

    def predict(
        self, images: torch.Tensor, available: torch.Tensor, wanted: list[int] | None = None
    ) -> MeanOutput | torch.Tensor:
        """The mean of the contrasts in `wanted` (B, len(wanted), H, W), or, with `wanted` None, the full output."""
        mask = self._check_inputs(images, available)
        scales = self._fused_pyramid(images, mask)
        fused = self.msse(scales)
        own = self.own_styles(images, mask)
        predicted = self.style_predictor(own, mask)
        styles = torch.where(mask[:, :, None], own, predicted)
        decoders = range(self.num_contrasts) if wanted is None else wanted
        decoded = [self.image_decoders[m](fused, scales, styles[:, m]) for m in decoders]
        out = torch.cat(decoded, dim=1)
        if wanted is not None:
            return out
        return MeanOutput(out, fused, styles, predicted, self.segmentation_decoder(scales))
