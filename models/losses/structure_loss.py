"""Stage-1 objective of MSG-LDM: reconstruction, frequency SSIM, segmentation, style consistency and AdaIN KL.

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``vqgan-msg.py::get_loss``, whose weights are the defaults here::

    L = 1.0 * sum_m |x_hat_m - x_m|_1 + 1.0 * sum_m FreqSSIM(x_hat_m, x_m)     (L_sa)
      + 2.0 * (0.5 BCE + (1 - Dice))(seg, BG/WT/TC/ET)                         (L_seg)
      + 0.1 * StyleContrastive(style codes)                                    (L_sc)
      + 0.05 * sum_m KL(AdaIN mu_m, logvar_m)

The reference's explicit L2 penalty (1e-4 * sum theta**2) is left to the optimizer's weight decay.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from models.losses.frequency_ssim import FrequencySSIMLoss
from models.losses.segmentation_loss import BCEDiceLoss, brats_label_channels
from models.losses.style_contrastive import StyleContrastiveLoss
from models.networks.structure_network import StructureOutput

logger = logging.getLogger(__name__)

__all__ = ["StructureLoss", "adain_kl", "brats_label_channels"]


def adain_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL of N(mu, exp(logvar)) from N(0, 1), summed over channels, averaged over the batch, summed over contrasts.

    Args:
        mu: (B, M, C).
        logvar: (B, M, C).

    Returns:
        Scalar ``sum_m mean_b 0.5 * sum_c (mu**2 + exp(logvar) - 1 - logvar)``.
    """
    per_sample = 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=2)  # (B, M)
    return per_sample.mean(dim=0).sum()


class StructureLoss(nn.Module):
    """Weighted stage-1 loss with the reference weights.

    Args:
        rec_weight: weight of the L1 reconstruction, summed over contrasts (1.0).
        freq_weight: weight of the DCT-amplitude SSIM, summed over contrasts (1.0).
        seg_weight: weight of BCE + Dice (2.0).
        style_weight: weight of the style contrastive loss (0.1).
        kl_weight: weight of the AdaIN KL (0.05).
        enhancing_label: BraTS label of the enhancing tumour (4).
    """

    def __init__(
        self,
        rec_weight: float = 1.0,
        freq_weight: float = 1.0,
        seg_weight: float = 2.0,
        style_weight: float = 0.1,
        kl_weight: float = 0.05,
        enhancing_label: int = 4,
    ):
        super().__init__()
        self.rec_weight = rec_weight
        self.freq_weight = freq_weight
        self.seg_weight = seg_weight
        self.style_weight = style_weight
        self.kl_weight = kl_weight
        self.enhancing_label = enhancing_label
        self.freq_ssim = FrequencySSIMLoss()
        self.bce_dice = BCEDiceLoss()
        self.style_contrastive = StyleContrastiveLoss()

    def forward(
        self, output: StructureOutput, images: torch.Tensor, seg_labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Compute the stage-1 loss.

        Args:
            output: the network's forward output.
            images: the ground-truth contrasts (B, M, H, W) in [-1, 1], all of them (missing ones included).
            seg_labels: BraTS labels (B, H, W) int in {0, 1, 2, 4}, or region targets already as (B, K, H, W)
                float, or None to drop the segmentation term (data without annotations).

        Returns:
            The scalar loss and its unweighted terms (floats) under "rec", "freq", "seg", "style", "kl", "total".
        """
        if output.reconstructions.shape != images.shape:
            raise ValueError(
                f"reconstructions {tuple(output.reconstructions.shape)} and images {tuple(images.shape)} differ"
            )
        spatial = tuple(range(2, images.ndim))
        rec = torch.abs(output.reconstructions - images).mean(dim=(0, *spatial)).sum()  # mean L1 per contrast, summed
        freq = self.freq_ssim(output.reconstructions, images)  # summed over contrasts, one data range each
        style = self.style_contrastive(output.style_codes)
        kl = adain_kl(output.adain_mu, output.adain_logvar)
        total = self.rec_weight * rec + self.freq_weight * freq + self.style_weight * style + self.kl_weight * kl
        seg = torch.zeros((), device=images.device)
        if seg_labels is not None:
            if seg_labels.ndim == images.ndim:
                target = seg_labels.float()
            else:
                target = brats_label_channels(seg_labels, self.enhancing_label)
            seg = self.bce_dice(output.segmentation_logits, target)
            total = total + self.seg_weight * seg
        terms = {"rec": rec, "freq": freq, "seg": seg, "style": style, "kl": kl, "total": total}
        return total, {name: float(value.detach()) for name, value in terms.items()}
