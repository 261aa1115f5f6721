"""Orthonormal 2D DCT-II by matrix multiplication (what ``torch_dct.dct(..., norm="ortho")`` computes)."""

from __future__ import annotations

import logging
import math

import torch

logger = logging.getLogger(__name__)


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Return the orthonormal DCT-II matrix D (n, n), ``X = D @ x`` for a length-n signal x.

    ``D[k, i] = s_k cos(pi (2 i + 1) k / (2 n))`` with ``s_0 = sqrt(1 / n)`` and ``s_k = sqrt(2 / n)``; D is
    orthogonal, so its transpose is the inverse (DCT-III).

    Args:
        n: signal length.
        dtype: output dtype (built in float64 first).
        device: output device.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(dtype=dtype, device=device)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II over the last two axes: (..., H, W) -> (..., H, W)."""
    rows = dct_matrix(x.shape[-2], x.dtype, x.device)
    cols = dct_matrix(x.shape[-1], x.dtype, x.device)
    return rows @ x @ cols.t()


def idct2(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of ``dct2`` over the last two axes: (..., H, W) -> (..., H, W)."""
    rows = dct_matrix(coefficients.shape[-2], coefficients.dtype, coefficients.device)
    cols = dct_matrix(coefficients.shape[-1], coefficients.dtype, coefficients.device)
    return rows.t() @ coefficients @ cols
