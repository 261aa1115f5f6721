"""Stage-1 structure/style disentanglement network of MSG-LDM.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``DisentangleModel``. Per contrast, a structure encoder (with HFIB) gives a four-scale pyramid; missing
contrasts are zeroed at every scale; MMSF fuses the contrasts per scale; MSSE turns the pyramid into the structure
map F_s on the 1/8 grid, which conditions the latent diffusion. During training, every contrast is rebuilt from F_s
and its own style code, and a shared decoder segments the tumour from the fused pyramid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from models.networks.fusion import MultiModalStructureFusion
from models.networks.msse import MultiScaleStructureEnhancement
from models.networks.segmentation_decoder import SegmentationDecoder
from models.networks.structure_encoder import NUM_SCALES, StructureEncoder, scale_channels
from models.networks.style import AdaINDecoder, StyleEncoder

logger = logging.getLogger(__name__)

LOGVAR_EPS = 1e-8
"""Floor inside log(sigma**2) so that a zero AdaIN sigma gives a finite log-variance."""


@dataclass
class StructureOutput:
    """Everything the stage-1 losses need from one forward pass.

    Attributes:
        fused: F_s, the diffusion condition, (B, C_s, H/8, W/8).
        reconstructions: every contrast rebuilt from F_s and its own style code, (B, M, H, W), in [-1, 1].
        segmentation_logits: (B, num_seg_classes, H, W).
        style_codes: (B, M, style_dim).
        adain_mu: AdaIN mu per contrast (used as the scale), (B, M, C_dec).
        adain_logvar: log(sigma**2 + 1e-8) of the AdaIN sigma (used as the shift), (B, M, C_dec).
        scale_features: the fused maps F1..F4 before MSSE, F_l of shape (B, base * 2**l, H / 2**l, W / 2**l).
        available: the availability mask the pass used, (B, M) bool.
    """

    fused: torch.Tensor
    reconstructions: torch.Tensor
    segmentation_logits: torch.Tensor
    style_codes: torch.Tensor
    adain_mu: torch.Tensor
    adain_logvar: torch.Tensor
    scale_features: tuple[torch.Tensor, ...]
    available: torch.Tensor


class StructureNetwork(nn.Module):
    """MSG-LDM stage 1: multi-contrast structure encoder, fusion and enhancement, with style/AdaIN and segmentation
    decoders for training.

    A missing contrast cannot influence F_s: its image is replaced by zeros before its structure encoder and its
    features are replaced by zeros at all four scales (``torch.where``, so even NaN pixels cannot leak), and its
    encoder is skipped when the contrast is missing from the whole batch. The reference multiplies the features by
    the mask, which gives the same F_s for finite inputs. Style encoders always see all contrasts (reference).

    Args:
        num_contrasts: number of contrasts M (4 for BraTS: T1, T2, T1ce, FLAIR).
        base_channels: width of the finest scale; the scales are base * (1, 2, 4, 8) (32 in the reference).
        structure_channels: width C_s of F_s; None means 8 * base (256 in the reference).
        style_dim: length of the style codes (8).
        num_seg_classes: segmentation channels (4: BG, WT, TC, ET).
        attention_heads: MSSE attention heads (4).
        dropout: dropout in the structure encoders' residual convolutions (0.3).
        msse_alpha: weight of the MSSE attention in F_s (0.5).
        spatial_dims: number of spatial dimensions (2; 3 builds the same network in 3D).
        decoder_channels: width of the AdaIN decoders; None means 8 * base (256 in the reference).
        style_channels: base width of the style encoders; None means base_channels (the reference fixes 32).
    """

    def __init__(
        self,
        num_contrasts: int = 4,
        base_channels: int = 32,
        structure_channels: int | None = None,
        style_dim: int = 8,
        num_seg_classes: int = 4,
        attention_heads: int = 4,
        dropout: float = 0.3,
        msse_alpha: float = 0.5,
        *,
        spatial_dims: int = 2,
        decoder_channels: int | None = None,
        style_channels: int | None = None,
    ):
        super().__init__()
        if num_contrasts < 1:
            raise ValueError(f"num_contrasts must be >= 1, got {num_contrasts}")
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        widths = scale_channels(base_channels)
        self.num_contrasts = num_contrasts
        self.spatial_dims = spatial_dims
        self.scale_widths = widths
        self.structure_channels = widths[-1] if structure_channels is None else structure_channels
        self.downsample_factor = 2 ** (NUM_SCALES - 1)
        decoder_channels = widths[-1] if decoder_channels is None else decoder_channels
        style_channels = base_channels if style_channels is None else style_channels

        self.structure_encoders = nn.ModuleList(
            [StructureEncoder(spatial_dims, 1, base_channels, dropout) for _ in range(num_contrasts)]
        )
        self.fusions = nn.ModuleList([MultiModalStructureFusion(spatial_dims, w, num_contrasts) for w in widths])
        self.msse = MultiScaleStructureEnhancement(
            spatial_dims, widths, self.structure_channels, num_heads=attention_heads, alpha=msse_alpha
        )
        self.style_encoders = nn.ModuleList(
            [StyleEncoder(spatial_dims, 1, style_channels, style_dim) for _ in range(num_contrasts)]
        )
        self.image_decoders = nn.ModuleList(
            [
                AdaINDecoder(spatial_dims, self.structure_channels, decoder_channels, 1, style_dim)
                for _ in range(num_contrasts)
            ]
        )
        self.segmentation_decoder = SegmentationDecoder(spatial_dims, widths, num_seg_classes)

    def _check_inputs(self, images: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """Validate the inputs and return the availability mask as bool (B, M)."""
        expected_ndim = 2 + self.spatial_dims
        if images.ndim != expected_ndim or images.shape[1] != self.num_contrasts:
            raise ValueError(
                f"images must be (B, {self.num_contrasts}, *spatial) with {self.spatial_dims} spatial dims, "
                f"got {tuple(images.shape)}"
            )
        if any(size % self.downsample_factor for size in images.shape[2:]):
            raise ValueError(f"spatial size {tuple(images.shape[2:])} is not divisible by {self.downsample_factor}")
        if available.shape != images.shape[:2]:
            raise ValueError(f"available must be {tuple(images.shape[:2])}, got {tuple(available.shape)}")
        mask = available.to(device=images.device, dtype=torch.bool)
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every sample needs at least one available contrast")
        return mask

    def _masked_pyramid(self, images: torch.Tensor, mask: torch.Tensor, contrast: int) -> list[torch.Tensor]:
        """Structure pyramid of one contrast, exactly zero wherever the contrast is missing."""
        present = mask[:, contrast].reshape(-1, *([1] * (images.ndim - 1)))
        if not bool(present.any()):
            batch, spatial = images.shape[0], images.shape[2:]
            return [
                images.new_zeros(batch, width, *(s // 2**level for s in spatial))
                for level, width in enumerate(self.scale_widths)
            ]
        image = torch.where(present, images[:, contrast : contrast + 1], 0.0)
        return [torch.where(present, f, 0.0) for f in self.structure_encoders[contrast](image)]

    def _fused_pyramid(self, images: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """Fused maps F1..F4 (finest first) from the present contrasts."""
        pyramids = [self._masked_pyramid(images, mask, m) for m in range(self.num_contrasts)]
        return [fusion([p[level] for p in pyramids]) for level, fusion in enumerate(self.fusions)]

    def pyramid(self, images: torch.Tensor, available: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The fused maps F1..F4 (finest first) and F_s, from the present contrasts only (inputs checked)."""
        scales = self._fused_pyramid(images, self._check_inputs(images, available))
        return scales, self.msse(scales)

    def structure(self, images: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """Compute only F_s, the diffusion condition (inference path: no style encoders or decoders run).

        Args:
            images: contrasts (B, M, H, W); pixels of missing contrasts are ignored, whatever they hold.
            available: (B, M) bool or 0/1, True where the contrast is present.

        Returns:
            F_s (B, C_s, H/8, W/8).
        """
        mask = self._check_inputs(images, available)
        return self.msse(self._fused_pyramid(images, mask))

    def forward(self, images: torch.Tensor, available: torch.Tensor) -> StructureOutput:
        """Full training pass: F_s, reconstructions of all contrasts, segmentation, style codes.

        Args:
            images: contrasts (B, M, H, W) in [-1, 1]. Style encoders read every contrast, present or not; the
                reconstruction targets are all M contrasts (reference behaviour).
            available: (B, M) bool or 0/1, True where the contrast counts as present for F_s.

        Returns:
            StructureOutput.
        """
        mask = self._check_inputs(images, available)
        scales = self._fused_pyramid(images, mask)
        fused = self.msse(scales)
        styles, recons, mus, sigmas = [], [], [], []
        for m in range(self.num_contrasts):
            style = self.style_encoders[m](images[:, m : m + 1])
            recon, mu, sigma = self.image_decoders[m](fused, style)
            styles.append(style)
            recons.append(recon)
            mus.append(mu)
            sigmas.append(sigma)
        sigma = torch.stack(sigmas, dim=1)
        return StructureOutput(
            fused=fused,
            reconstructions=torch.cat(recons, dim=1),
            segmentation_logits=self.segmentation_decoder(scales),
            style_codes=torch.stack(styles, dim=1),
            adain_mu=torch.stack(mus, dim=1),
            adain_logvar=torch.log(sigma.pow(2) + LOGVAR_EPS),
            scale_features=tuple(scales),
            available=mask,
        )
