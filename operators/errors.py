"""Errors of the graph's stages that are not one module's own: `VolumeError` (see `product.errors` for the root)."""

from __future__ import annotations

from product.errors import ProductError


class VolumeError(ProductError, ValueError):
    """A series cannot be turned into a volume, or volumes cannot share a grid.

    Raised for missing or inconsistent geometry (PS3.3 C.7.6.2), a single slice,
    uneven slice spacing, undecodable pixel data, or series in different frames
    of reference. The message names the series (SeriesInstanceUID and
    description) and the attribute or value at fault.
    """
