"""The root of every error this product raises on purpose.

Catch `ProductError` where a study (or the node's start) can be failed with a
logged reason; catch a subclass where something specific can be done (drop a
series, answer Out of Resources). Each subclass also derives from the
built-in exception it refines (ValueError for a bad value, OSError for a
disk, RuntimeError for a peer), so callers that expect those keep working.
Every message names the study, series, file, tag, key or option at fault.
"""

from __future__ import annotations


class ProductError(Exception):
    """Root of every error this product raises on purpose; its message names what is at fault."""
