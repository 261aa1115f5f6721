"""Torch set-up the entry points share: device choice, bf16, thread count (the stack size: product.process)."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def choose_device(requested: str | None = None) -> torch.device:
    """The GPU when there is one (or the device asked for), else the CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_is_fast(device: torch.device | None = None) -> bool:
    """Whether bf16 autocast speeds this device up: a GPU, or a CPU with native bf16 (AVX-512 BF16, AMX).

    On a CPU without them (AVX2 only) oneDNN emulates bf16 and a convolution step runs about 35x slower
    (measured on an AVX2-only EPYC), so a recipe's `bf16: true` is only a request.
    """
    if device is not None and device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
