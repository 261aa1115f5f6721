"""Where each image of a series lies: the one reader of the Image Plane attributes.

A single-frame instance carries ImagePositionPatient, ImageOrientationPatient and
PixelSpacing itself (PS3.3 C.7.6.2); a multi-frame one (Enhanced MR, Legacy
Converted Enhanced MR) carries them per frame or shared, in the functional group
macros (C.7.6.16.2). Every consumer (the series summary, volume assembly, the SC
writer's reference grid) reads them here. The summary takes them leniently (None
when absent or unreadable); the others call `ImagePlane.require`, whose error
names the tag, where it was looked for and the instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from operators.errors import VolumeError
from operators.selection import dicom_values as values

GEOMETRY = {
    "position": ("ImagePositionPatient", "(0020,0032)", 3, "PlanePositionSequence"),
    "orientation": ("ImageOrientationPatient", "(0020,0037)", 6, "PlaneOrientationSequence"),
    "pixel_spacing": ("PixelSpacing", "(0028,0030)", 2, "PixelMeasuresSequence"),
}
"""The Image Plane attributes a slice's place needs: keyword, tag, value count, functional group macro holding it."""


@dataclass(frozen=True, eq=False)
class ImagePlane:
    """One image of a series (an instance, or one frame of a multi-frame instance) and where to read its attributes.

    Attributes:
        dataset: the instance.
        frame: 0-based frame index in a multi-frame instance; None for a single-frame instance.
        per_frame: the frame's Per-frame Functional Groups item, or None.
        shared: the instance's Shared Functional Groups item, or None.
    """

    dataset: Dataset
    frame: int | None
    per_frame: Dataset | None
    shared: Dataset | None

    @property
    def grouped(self) -> bool:
        """Whether the attributes come from functional group macros rather than the instance's root."""
        return self.per_frame is not None or self.shared is not None

    def value(self, macro: str, keyword: str) -> object:
        """An attribute of this image: from the frame's groups, else the shared ones, else the instance."""
        if self.grouped:
            return values.functional_value(self.per_frame, self.shared, macro, keyword)
        return self.dataset.get(keyword)

    def numbers(self, name: str) -> tuple[float, ...] | None:
        """A geometry attribute of `GEOMETRY` as numbers, or None when absent or unreadable."""
        keyword, _, count, macro = GEOMETRY[name]
        return values.as_floats(self.value(macro, keyword), count)

    def require(self, name: str, label: str) -> np.ndarray:
        """A geometry attribute of `GEOMETRY` as a float array; VolumeError naming tag, place and image if unusable."""
        keyword, tag, count, macro = GEOMETRY[name]
        value = self.value(macro, keyword)
        numbers = values.as_floats(value, count)
        if numbers is None or not all(np.isfinite(numbers)):
            state = "missing" if value is None else f"unreadable ({value!r}, expected {count} finite numbers)"
            place = f" (per-frame or shared {macro})" if self.grouped else ""
            raise VolumeError(f"{label}: {keyword} {tag}{place} {state} in {self.where}")
        return np.asarray(numbers, dtype=np.float64)

    @property
    def position(self) -> tuple[float, ...] | None:
        return self.numbers("position")

    @property
    def orientation(self) -> tuple[float, ...] | None:
        return self.numbers("orientation")

    @property
    def pixel_spacing(self) -> tuple[float, ...] | None:
        return self.numbers("pixel_spacing")

    @property
    def slice_thickness(self) -> float | None:
        return values.as_float(self.value("PixelMeasuresSequence", "SliceThickness"))

    @property
    def where(self) -> str:
        """The image for messages: its SOPInstanceUID, frame and file when read from one."""
        return where(self.dataset, self.frame)


def where(ds: Dataset, frame: int | None = None) -> str:
    """An instance (and frame) for messages: its SOPInstanceUID, and its file when read from one."""
    text = f"SOPInstanceUID {ds.get('SOPInstanceUID', '?')}"
    text += f" frame {frame + 1}" if frame is not None else ""
    filename = getattr(ds, "filename", None)
    return f"{text} ({filename})" if isinstance(filename, str) and filename else text


def frame_count(ds: Dataset) -> int:
    """NumberOfFrames, else the Per-frame Functional Groups items, else 1."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or ()
    return values.as_int(ds.get("NumberOfFrames")) or len(per_frame) or 1


def has_functional_groups(ds: Dataset) -> bool:
    """Whether the instance places its frames by functional group macros (Enhanced / Legacy Converted)."""
    return bool(ds.get("PerFrameFunctionalGroupsSequence") or ds.get("SharedFunctionalGroupsSequence"))


def image_planes(ds: Dataset) -> Iterator[ImagePlane]:
    """The images of one instance: the instance itself, or each frame of a multi-frame instance.

    A multi-frame instance without functional groups yields one plane per frame, each reading the
    instance's root attributes (its frames share one header and so one position).
    """
    count = frame_count(ds)
    if not has_functional_groups(ds):
        for frame in range(count) if count > 1 else [None]:
            yield ImagePlane(ds, frame, None, None)
        return
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or ()
    shared_items = ds.get("SharedFunctionalGroupsSequence") or ()
    shared = shared_items[0] if shared_items else None
    for frame in range(count):
        item = per_frame[frame] if frame < len(per_frame) else None
        yield ImagePlane(ds, frame, item, shared)
