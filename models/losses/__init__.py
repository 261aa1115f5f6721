"""Losses of MSG-LDM stages 0 (VQ autoencoder) and 1 (structure network).

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026).
"""

from models.losses.autoencoder_loss import AutoencoderLoss
from models.losses.dct import dct2, dct_matrix, idct2
from models.losses.frequency_ssim import FrequencySSIMLoss
from models.losses.segmentation_loss import BCEDiceLoss, brats_label_channels
from models.losses.structure_loss import StructureLoss, adain_kl
from models.losses.style_contrastive import StyleContrastiveLoss

__all__ = [
    "AutoencoderLoss",
    "BCEDiceLoss",
    "FrequencySSIMLoss",
    "StructureLoss",
    "StyleContrastiveLoss",
    "adain_kl",
    "brats_label_channels",
    "dct2",
    "dct_matrix",
    "idct2",
]
