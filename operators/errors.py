"""The node's own exceptions: one root class and a subclass per kind of fault.

Catch `NodeError` where a study can be failed with a logged reason (the
worker), a subclass where something specific can be done (skip a series).
Subclasses also derive from the built-in exception they refine, so callers
that expect a `ValueError` for a bad value keep working.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class NodeError(Exception):
    """Root of every error this product raises on purpose; its message names the study, series, file or tag."""


class VolumeError(NodeError, ValueError):
    """A series cannot be turned into a volume, or volumes cannot share a grid.

    Raised for missing or inconsistent geometry (PS3.3 C.7.6.2), a single slice,
    uneven slice spacing, undecodable pixel data, or series in different frames
    of reference. The message names the series (SeriesInstanceUID and
    description) and the attribute or value at fault.
    """
