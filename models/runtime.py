"""Process set-up every entry point shares: stack size for Holoscan, device choice, thread count."""

from __future__ import annotations

import logging
import os
import resource
import sys

import torch

logger = logging.getLogger(__name__)

STACK_BYTES = 32 * 1024 * 1024
_REEXEC_FLAG = "MRI_SYNTH_STACK_RAISED"


def ensure_stack_size() -> None:
    """Give the process the 32 MiB stack Holoscan asks for, re-executing it once if needed.

    The limit of the main thread is fixed when the process starts, so raising
    it from inside Python is too late for Holoscan's check: the process raises
    its soft limit and replaces itself (same interpreter, same arguments).
    Does nothing when the limit is already high or cannot be raised.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES or os.environ.get(_REEXEC_FLAG):
        return
    if hard != resource.RLIM_INFINITY and hard < STACK_BYTES:
        return
    resource.setrlimit(resource.RLIMIT_STACK, (STACK_BYTES, hard))
    os.environ[_REEXEC_FLAG] = "1"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


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
