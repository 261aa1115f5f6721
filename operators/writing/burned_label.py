"""A small "SYNTHETIC" label burned into the pixels of a derived image, legible on any background.

The text is rendered once per size with the DejaVu Sans Bold font that
matplotlib bundles (FreeType through `matplotlib.ft2font`, no font file of our
own, no PIL), thresholded to a binary mask and cached. It is drawn bright (the
image's maximum stored value) inside a dark outline a few pixels wide, so it
reads on black background and on bright tissue alike.

A burned label is part of the pixel data: the writer then sets Burned In
Annotation (0028,0301) to YES (PS3.3 C.7.6.1.1, General Image Module).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font, LoadFlags

logger = logging.getLogger(__name__)

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
CAP_HEIGHT_EM = 0.73
"""Capital-letter height of DejaVu Sans Bold as a fraction of its em size."""
MIN_TEXT_HEIGHT = 7
"""Smallest text height (pixels) at which the capitals stay legible."""


@dataclass(frozen=True)
class LabelBox:
    """Where a label was drawn: rows [top, bottom) and columns [left, right) of the image, outline included."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """(row slice, column slice) for indexing a (rows, columns) array."""
        return slice(self.top, self.bottom), slice(self.left, self.right)


@functools.lru_cache(maxsize=1)
def _font_path() -> str:
    properties = font_manager.FontProperties(family="DejaVu Sans", weight="bold")
    return font_manager.findfont(properties, fallback_to_default=False)


@functools.lru_cache(maxsize=64)
def text_mask(text: str, height: int) -> np.ndarray:
    """Binary mask (rows, columns) of `text` whose capitals are about `height` pixels tall, cropped to the ink.

    Args:
        text: the label; upper-case text gives the most even height.
        height: wanted capital height in pixels (at least 1).

    Returns:
        A read-only bool array; True where the glyphs are inked (anti-aliased coverage of at least one half).
    """
    if height < 1:
        raise ValueError(f"label height {height}: expected at least 1 pixel")
    font = FT2Font(_font_path())
    font.set_size(height / CAP_HEIGHT_EM, 72)  # at 72 dpi one point is one pixel
    font.set_text(text, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    ink = np.asarray(font.get_image()) >= 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"label {text!r} renders no pixels at height {height}")
    mask = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()
    mask.flags.writeable = False
    return mask


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by a disc of `radius` pixels (the result is `radius` larger on every side)."""
    grown = np.zeros((mask.shape[0] + 2 * radius, mask.shape[1] + 2 * radius), dtype=bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius + radius:
                grown[radius + dy : radius + dy + mask.shape[0], radius + dx : radius + dx + mask.shape[1]] |= mask
    return grown


@functools.lru_cache(maxsize=32)
def label_stamp(text: str, rows: int, columns: int, height_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The label for an image of `rows` x `columns`: (text mask, outline mask), both of the stamp's size.

    The capitals are `height_fraction` of the image height (at least
    `MIN_TEXT_HEIGHT` pixels), made smaller when the text would be wider than
    80 % of the image. The outline is about an eighth of the text height wide
    (at least one pixel).
    """
    height = max(MIN_TEXT_HEIGHT, round(height_fraction * rows))
    mask = text_mask(text, height)
    while mask.shape[1] > 0.8 * columns and height > 1:
        height = max(1, int(height * 0.8 * columns / mask.shape[1]))
        mask = text_mask(text, height)
    radius = max(1, round(height / 8))
    outline = _dilate(mask, radius)
    text_part = np.zeros_like(outline)
    text_part[radius:-radius, radius:-radius] = mask
    return text_part, outline & ~text_part


def label_box(
    rows: int, columns: int, text: str = "SYNTHETIC", height_fraction: float = 0.05, corner: str = "top-left"
) -> LabelBox:
    """Where `burn_label` draws on an image of `rows` x `columns` (outline included)."""
    if corner not in CORNERS:
        raise ValueError(f"label corner {corner!r}: expected one of {CORNERS}")
    text_part, _ = label_stamp(text, rows, columns, height_fraction)
    height, width = text_part.shape
    if height > rows or width > columns:
        raise ValueError(f"label {text!r} ({height}x{width} px) does not fit an image of {rows}x{columns}")
    margin_r, margin_c = max(1, rows // 50), max(1, columns // 50)
    top = margin_r if corner.startswith("top") else rows - margin_r - height
    left = margin_c if corner.endswith("left") else columns - margin_c - width
    top, left = min(max(top, 0), rows - height), min(max(left, 0), columns - width)
    return LabelBox(top, top + height, left, left + width)


def burn_label(
    image: np.ndarray,
    value: int,
    text: str = "SYNTHETIC",
    height_fraction: float = 0.05,
    corner: str = "top-left",
) -> LabelBox:
    """Draw `text` into a corner of `image` in place: glyphs at `value`, their outline at 0.

    Args:
        image: a (rows, columns) array of stored pixel values (MONOCHROME2: 0 is dark).
        value: stored value of the glyphs, normally the largest the image can hold.
        text: the label.
        height_fraction: capital height as a fraction of the image height (0.04 to 0.06 reads well).
        corner: one of `CORNERS`, with a margin of 2 % of the image size.

    Returns:
        The box drawn into, outline included.
    """
    if image.ndim != 2:
        raise ValueError(f"image shape {image.shape}: expected (rows, columns)")
    box = label_box(image.shape[0], image.shape[1], text, height_fraction, corner)
    text_part, outline = label_stamp(text, image.shape[0], image.shape[1], height_fraction)
    region = image[box.slices]
    region[outline] = 0
    region[text_part] = value
    return box
