"""The main thread's stack: Holoscan asks for 32 MiB and warns (and may crash) below it."""

from __future__ import annotations

import os
import resource
import sys

STACK_BYTES = 32 * 1024 * 1024
_REEXEC_FLAG = "MRI_SYNTH_STACK_RAISED"


def raise_stack_limit() -> bool:
    """Raise this process's soft stack limit to STACK_BYTES where the hard limit allows; True if it was raised.

    Only processes started afterwards (a child, or this one re-executed) get the larger main-thread stack.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES:
        return False
    if hard != resource.RLIM_INFINITY and hard < STACK_BYTES:
        return False
    resource.setrlimit(resource.RLIMIT_STACK, (STACK_BYTES, hard))
    return True


def ensure_stack_size() -> None:
    """Give the process the 32 MiB stack Holoscan asks for, re-executing it once if needed.

    The limit of the main thread is fixed when the process starts, so raising
    it from inside Python is too late for Holoscan's check: the process raises
    its limit and re-executes itself. Does nothing when the limit is already
    high or cannot be raised.
    """
    if os.environ.get(_REEXEC_FLAG) or not raise_stack_limit():
        return
    os.environ[_REEXEC_FLAG] = "1"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
