"""Frequency-domain SSIM loss (L_freq, part of the structure-aware loss L_sa of MSG-LDM).

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026),
reference code ``FreqSSIMLoss``: ``1 - SSIM(|DCT2(x_hat)|, |DCT2(x)|)`` with the ground-truth amplitude range as the
SSIM data range, summed over contrasts. SSIM as ``pytorch_msssim.ssim``: 11-tap Gaussian window of sigma 1.5,
k1 0.01, k2 0.03, valid filtering, mean of the SSIM map.

The Gaussian filtering is done here as two separable depthwise 1-D passes over all statistics and contrasts at once:
MONAI's ``compute_ssim_and_cs`` gives the same values (tested) but filters with a full 11x11 kernel, one statistic
and one contrast at a time, which made it the single most expensive op of a stage-1 training step on a CPU.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from models.losses.dct import dct2

logger = logging.getLogger(__name__)


def gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Return a normalised 1-D Gaussian window (size,)."""
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    window = torch.exp(-(coords**2) / (2 * sigma**2))
    return window / window.sum()


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: torch.Tensor | float,
    win_size: int = 11,
    kernel_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """SSIM map of every channel with a Gaussian window (valid filtering).

    Args:
        x: (B, C, H, W).
        y: (B, C, H, W).
        data_range: scalar or per-channel tensor broadcastable to (1, C, 1, 1).
        win_size: window length; H and W must be at least this.
        kernel_sigma: window standard deviation.
        k1: luminance constant.
        k2: contrast constant.

    Returns:
        (B, C, H - win_size + 1, W - win_size + 1).
    """
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images {tuple(x.shape[-2:])} are smaller than the SSIM window {win_size}")
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (B, 5C, H, W)
    groups = stats.shape[1]
    window = gaussian_window(win_size, kernel_sigma, x.dtype, x.device)
    stats = F.conv2d(stats, window.view(1, 1, 1, -1).expand(groups, 1, 1, win_size), groups=groups)
    stats = F.conv2d(stats, window.view(1, 1, -1, 1).expand(groups, 1, win_size, 1), groups=groups)
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = stats.chunk(5, dim=1)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    sigma_x = mu_xx - mu_x * mu_x
    sigma_y = mu_yy - mu_y * mu_y
    sigma_xy = mu_xy - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * (2 * sigma_xy + c2) / (sigma_x + sigma_y + c2)


class FrequencySSIMLoss(nn.Module):
    """``1 - SSIM`` between the orthonormal-DCT amplitude spectra of prediction and target, summed over channels.

    Each channel (contrast) is its own image with its own data range, ``max - min`` of the target amplitudes of that
    channel over the batch, so a (B, 1, H, W) call is exactly the reference's per-contrast call and a (B, M, H, W)
    call is the reference's sum over the M contrasts.

    Args:
        win_size: SSIM Gaussian window (11); images must be at least this large.
        kernel_sigma: SSIM Gaussian sigma (1.5).
        k1: SSIM luminance constant (0.01).
        k2: SSIM contrast constant (0.03).
        min_data_range: floor of the data range, so a constant target does not divide by zero.
    """

    def __init__(
        self,
        win_size: int = 11,
        kernel_sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        min_data_range: float = 1e-6,
    ):
        super().__init__()
        self.win_size = win_size
        self.kernel_sigma = kernel_sigma
        self.k1 = k1
        self.k2 = k2
        self.min_data_range = min_data_range

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            prediction: (B, C, H, W).
            target: (B, C, H, W).

        Returns:
            Scalar ``sum_c (1 - mean SSIM_c)``; 0 when the amplitude spectra are equal.
        """
        if prediction.shape != target.shape or prediction.ndim != 4:
            raise ValueError(f"expected two (B, C, H, W) tensors, got {tuple(prediction.shape)}, {tuple(target.shape)}")
        pred_amp = dct2(prediction).abs()
        target_amp = dct2(target).abs().detach()
        per_channel = target_amp.transpose(0, 1).flatten(1)  # (C, B*H*W)
        data_range = (per_channel.max(dim=1).values - per_channel.min(dim=1).values).clamp_min(self.min_data_range)
        ssim = ssim_map(
            pred_amp, target_amp, data_range.view(1, -1, 1, 1), self.win_size, self.kernel_sigma, self.k1, self.k2
        )
        return (1.0 - ssim.mean(dim=(0, 2, 3))).sum()
