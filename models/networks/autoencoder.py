"""Stage-0 first-stage autoencoder of MSG-LDM: a single-contrast VQ-GAN generator on MONAI's encoder/decoder.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026)
uses taming-transformers' ``VQModel`` (ch 128, ch_mult 1,1,2,4, 2 res blocks, 4-d codes, 8192 entries, f = 8) and
feeds the diffusion the *quantized* latent. MONAI's ``autoencoderkl.Encoder``/``Decoder`` have taming's layout
(GroupNorm(32, eps 1e-6) residual blocks, asymmetric-pad stride-2 downsampling, nearest+conv upsampling, a mid
block res-attention-res); this module adds the codebook quantizer and taming's 1x1 quant/post-quant convolutions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from monai.networks.nets.autoencoderkl import Decoder, Encoder
from torch import nn

from models.networks.quantizer import CodebookQuantizer

logger = logging.getLogger(__name__)


class VQAutoencoder(nn.Module):
    """VQ autoencoder with a downsampling factor f = 2 ** (len(channels) - 1).

    Differences from MONAI's blocks, to match taming: the decoder has ``num_res_blocks + 1`` residual blocks per level
    (taming's decoder does), and a SiLU is inserted between the final GroupNorm and the output convolution of both
    encoder and decoder (MONAI's ``Encoder``/``Decoder`` omit it; taming has ``norm -> swish -> conv``).
    With channels (128, 128, 256, 512) and 2 residual blocks this is the reference autoencoder.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: image channels (1: one contrast at a time, the same network for every contrast).
        channels: widths per level; every one divisible by ``norm_num_groups``.
        num_res_blocks: residual blocks per encoder level (decoder: one more).
        latent_channels: code length D (4).
        num_embeddings: codebook size (8192 in the reference; a CPU configuration trained on few samples may use
            fewer).
        commitment_cost: beta of the VQ loss (0.25; see ``CodebookQuantizer`` for where taming puts it).
        attention_in_mid: self-attention in the mid block (the reference's only attention).
        norm_num_groups: GroupNorm groups (32, taming's value).
        norm_eps: GroupNorm epsilon (1e-6, taming's value).
        restart_after_steps: dead-code restart period of the quantizer, None to disable (not in the reference).
        legacy_vq_loss: taming's legacy VQ loss weighting (True, the reference).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128, 128),
        num_res_blocks: int = 1,
        latent_channels: int = 4,
        num_embeddings: int = 8192,
        commitment_cost: float = 0.25,
        attention_in_mid: bool = True,
        *,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-6,
        restart_after_steps: int | None = 100,
        legacy_vq_loss: bool = True,
    ):
        super().__init__()
        channels = tuple(channels)
        if not channels:
            raise ValueError("channels must not be empty")
        if any(c % norm_num_groups for c in channels):
            raise ValueError(
                f"every entry of channels={channels} must be divisible by norm_num_groups={norm_num_groups}"
            )
        if num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be >= 1, got {num_res_blocks}")
        levels = len(channels)
        self.spatial_dims = spatial_dims
        self.downsample_factor = 2 ** (levels - 1)
        self.latent_channels = latent_channels
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d

        self.encoder = Encoder(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            channels=channels,
            out_channels=latent_channels,
            num_res_blocks=[num_res_blocks] * levels,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
            attention_levels=[False] * levels,
            with_nonlocal_attn=attention_in_mid,
        )
        self.encoder.blocks.insert(len(self.encoder.blocks) - 1, nn.SiLU())
        self.quant_conv = conv(latent_channels, latent_channels, 1)
        self.quantizer = CodebookQuantizer(
            num_embeddings,
            latent_channels,
            commitment_cost=commitment_cost,
            legacy=legacy_vq_loss,
            restart_after_steps=restart_after_steps,
        )
        self.post_quant_conv = conv(latent_channels, latent_channels, 1)
        self.decoder = Decoder(
            spatial_dims=spatial_dims,
            channels=channels,
            in_channels=latent_channels,
            out_channels=in_channels,
            num_res_blocks=[num_res_blocks + 1] * levels,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
            attention_levels=[False] * levels,
            with_nonlocal_attn=attention_in_mid,
        )
        self.decoder.blocks.insert(len(self.decoder.blocks) - 1, nn.SiLU())

    @property
    def last_layer(self) -> nn.Parameter:
        """Weight of the decoder's output convolution, for the adaptive adversarial weight."""
        return self.decoder.blocks[-1].conv.weight

    def _check_image(self, x: torch.Tensor) -> None:
        if x.ndim != 2 + self.spatial_dims:
            raise ValueError(f"expected (B, C, *spatial) with {self.spatial_dims} spatial dims, got {tuple(x.shape)}")
        if any(size % self.downsample_factor for size in x.shape[2:]):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} is not divisible by f={self.downsample_factor}")

    def encode_pre_quantization(self, x: torch.Tensor) -> torch.Tensor:
        """Encode an image to the continuous latent before quantization.

        Args:
            x: image (B, in_channels, H, W) in [-1, 1].

        Returns:
            z (B, latent_channels, H/f, W/f).
        """
        self._check_image(x)
        return self.quant_conv(self.encoder(x))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Snap a continuous latent (B, D, h, w) to the codebook: (z_q (B, D, h, w), VQ loss, indices (B, h, w))."""
        return self.quantizer(z)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encode an image to its quantized latent, the space the diffusion works in.

        Args:
            x: image (B, in_channels, H, W) in [-1, 1].

        Returns:
            z_q (B, latent_channels, H/f, W/f), every vector a codebook entry.
        """
        return self.quantize(self.encode_pre_quantization(x))[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode a (quantized) latent (B, latent_channels, h, w) to an image (B, in_channels, h*f, w*f)."""
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruct an image (B, in_channels, H, W): returns (reconstruction of the same shape, scalar VQ loss)."""
        z_q, vq_loss, _ = self.quantize(self.encode_pre_quantization(x))
        return self.decode(z_q), vq_loss
