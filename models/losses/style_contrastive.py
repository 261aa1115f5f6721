"""Style-consistency term L_sc of MSG-LDM: a contrastive loss grouping style codes by contrast.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``Modality_Contrastive_Loss``.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


class StyleContrastiveLoss(nn.Module):
    """BCE-with-logits between scaled cosine similarities of style codes and the same-contrast indicator.

    All M * B codes are L2-normalised; logits are ``scale * cos(p, q)`` for every ordered pair (p, q), diagonal
    included; the target is 1 when p and q come from the same contrast; the BCE is averaged over the (M B)**2 pairs.
    The scale ``exp(clamp(log(1 / tau), 0, log(max_scale)))`` (about 14.3) is a buffer: the reference declares it as a
    parameter but never gives it to the optimizer, so it is fixed.

    Args:
        tau: temperature (0.07).
        max_scale: upper bound of the scale (100).
    """

    def __init__(self, tau: float = 0.07, max_scale: float = 100.0):
        super().__init__()
        if tau <= 0 or max_scale < 1:
            raise ValueError(f"tau must be > 0 and max_scale >= 1, got {tau}, {max_scale}")
        log_scale = min(max(math.log(1.0 / tau), 0.0), math.log(max_scale))
        self.register_buffer("scale", torch.tensor(math.exp(log_scale)))

    def forward(self, style_codes: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            style_codes: (B, M, D).

        Returns:
            Scalar loss.
        """
        if style_codes.ndim != 3:
            raise ValueError(f"style_codes must be (B, M, D), got {tuple(style_codes.shape)}")
        batch, contrasts, _ = style_codes.shape
        codes = F.normalize(style_codes.transpose(0, 1).reshape(contrasts * batch, -1), dim=1)
        logits = self.scale * codes @ codes.t()
        group = torch.arange(contrasts, device=codes.device).repeat_interleave(batch)
        target = (group[:, None] == group[None, :]).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, target)
