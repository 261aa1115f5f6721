"""Segmentation term L_seg of MSG-LDM: BCE + soft Dice on the BraTS region channels BG / WT / TC / ET.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``BCEDiceLoss``; the region mapping follows the BraTS convention (labels 1 necrotic/non-enhancing
core, 2 oedema, 4 enhancing tumour).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import nn

logger = logging.getLogger(__name__)

BRATS_LABELS = (0, 1, 2, 4)
"""Label values of a BraTS 2018-2021 segmentation."""


def brats_label_channels(labels: torch.Tensor, enhancing_label: int = 4) -> torch.Tensor:
    """Map a BraTS label map to the four region channels BG, WT={1,2,4}, TC={1,4}, ET={4}.

    Args:
        labels: integer label map (B, *S) with values in {0, 1, 2, enhancing_label}.
        enhancing_label: value of the enhancing tumour (4; BraTS 2023 uses 3).

    Returns:
        float (B, 4, *S) with 0/1 entries.

    Raises:
        ValueError: on label values outside the BraTS set.
    """
    allowed = torch.tensor([0, 1, 2, enhancing_label], device=labels.device)
    unexpected = torch.unique(labels[~torch.isin(labels, allowed)])
    if unexpected.numel():
        raise ValueError(f"unexpected label values {unexpected.tolist()}; expected {allowed.tolist()}")
    background = labels == 0
    whole_tumour = labels > 0
    tumour_core = (labels == 1) | (labels == enhancing_label)
    enhancing = labels == enhancing_label
    return torch.stack([background, whole_tumour, tumour_core, enhancing], dim=1).float()


class BCEDiceLoss(nn.Module):
    """``0.5 * BCEWithLogits + (1 - soft Dice)``.

    As in the reference, the Dice is computed per sample over all channels and pixels together (one Dice per sample,
    smoothing 1e-5, averaged over the batch), not per channel.
    """

    def __init__(self, bce_weight: float = 0.5, smooth: float = 1e-5):
        super().__init__()
        self.bce_weight = bce_weight
        self.dice = DiceLoss(sigmoid=True, smooth_nr=smooth, smooth_dr=smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits: (B, K, *S).
            target: (B, K, *S) with entries in [0, 1].

        Returns:
            Scalar loss.
        """
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
        bce = F.binary_cross_entropy_with_logits(logits, target)
        batch = logits.shape[0]
        dice = self.dice(logits.reshape(batch, 1, -1), target.reshape(batch, 1, -1))
        return self.bce_weight * bce + dice
