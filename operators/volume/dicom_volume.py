"""The 3D volume of one DICOM series, built from its Image Plane geometry and pixel data (PS3.3 C.7.6.2).

Each image (a single-frame instance, or a frame of an Enhanced / Legacy Converted
Enhanced MR instance) is placed by ImagePositionPatient, ImageOrientationPatient
and PixelSpacing, from the instance or from the frame's functional group macros
(per-frame first, then shared; PS3.3 C.7.6.16.2). Images are sorted along the
slice normal (row cosine x column cosine) and must form a regular stack
`origin + k * step` within a small tolerance. An uneven stack (a missing slice,
interleaved stacks) is refused with the gaps found, not resampled: a gap usually
means an incomplete transfer, and interpolating across it would invent anatomy.

Pixels are decoded by pydicom (pylibjpeg / RLE handlers for compressed syntaxes);
rescale by `pydicom.pixels.apply_modality_lut` for single frames, by the Pixel
Value Transformation macro for multi-frame ones. highdicom's
`get_volume_from_series` does much of this but compares geometry exactly and
reports failures without the series, tag or spacings the node has to log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from operators.errors import VolumeError
from operators.selection import dicom_values as values
from operators.selection.series_info import ORIENTATION_TOLERANCE, POSITION_MERGE_MM
from operators.selection.slice_geometry import ImagePlane, frame_count, has_functional_groups, image_planes, where

logger = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Flips x and y: DICOM patient coordinates (LPS) to nibabel's RAS, and back."""

SPACING_ATOL_MM = 0.05
"""Position jitter (mm) always tolerated around the regular stack `origin + k * step`."""

SPACING_RTOL = 0.02
"""Position jitter tolerated as a fraction of the slice step, when larger than SPACING_ATOL_MM."""

PIXEL_SPACING_TOLERANCE_MM = 1e-3
"""Largest difference of PixelSpacing between images of one volume."""

_DECODE_ERRORS = (NotImplementedError, RuntimeError, ValueError, TypeError, AttributeError, KeyError)
"""What pydicom's decoders raise for pixel data they cannot read (missing handler, corrupt stream)."""


@dataclass(frozen=True, eq=False)
class SeriesVolume:
    """One series as a 3D volume in patient space.

    Attributes:
        array: float32 (columns, rows, slices): index (i, j, k) is column i, row j of the k-th
            slice in the order of increasing position along the normal (nibabel's order: i runs
            along the row direction).
        affine_lps: 4x4 map of (i, j, k, 1) to LPS mm, PS3.3 C.7.6.2.1.1 (Equation C.7.6.2.1-1)
            extended by the slice step.
        series_uid: SeriesInstanceUID.
        series_description: SeriesDescription, or None.
        frame_of_reference_uid: FrameOfReferenceUID, or None when absent.
        sop_instance_uids: SOPInstanceUID of each slice, in slice order (repeated for the frames
            of a multi-frame instance).
        frame_numbers: 1-based frame number of each slice within its instance; None for
            single-frame instances.
        slice_positions: (slices, 3) ImagePositionPatient of each slice as read, in slice order.
        pixel_spacing: PixelSpacing (between rows, between columns) in mm.
        slice_spacing: centre-to-centre distance of neighbouring slices in mm.
    """

    array: np.ndarray
    affine_lps: np.ndarray
    series_uid: str
    series_description: str | None
    frame_of_reference_uid: str | None
    sop_instance_uids: tuple[str, ...]
    frame_numbers: tuple[int | None, ...]
    slice_positions: np.ndarray
    pixel_spacing: tuple[float, float]
    slice_spacing: float

    @property
    def affine_ras(self) -> np.ndarray:
        """The same map to RAS mm, as nibabel and MONAI use: diag(-1, -1, 1, 1) @ affine_lps."""
        return LPS_TO_RAS @ self.affine_lps

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, slices)."""
        return tuple(self.array.shape)

    @property
    def normal_lps(self) -> np.ndarray:
        """Unit slice normal in LPS: row cosine x column cosine (PS3.3 C.7.6.2.1.1)."""
        normal = np.cross(self.affine_lps[:3, 0], self.affine_lps[:3, 1])
        return normal / np.linalg.norm(normal)

    @property
    def label(self) -> str:
        """How errors and logs name the series: its UID and description."""
        return _label(self.series_uid, self.series_description)


@dataclass(frozen=True)
class _Plane:
    """One image of the series with the geometry it must have: where it is and where its pixels come from."""

    image: ImagePlane
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]

    @property
    def where(self) -> str:
        """The image for messages."""
        return self.image.where


def _label(uid: str | None, description: str | None) -> str:
    """e.g. `series 1.2.3 ('T2 TSE AX')`."""
    return f"series {uid or '(no SeriesInstanceUID)'} ({description or 'no description'!r})"


def series_volume(datasets: Sequence[Dataset]) -> SeriesVolume:
    """Assemble the volume of one series from its instances, in any order.

    Args:
        datasets: every instance of one series, with pixel data; single-frame MR/CT-like
            instances or multi-frame instances with functional groups (Enhanced MR, Legacy
            Converted Enhanced MR).

    Returns:
        The volume, sorted along the slice normal, with its LPS and RAS affines.

    Raises:
        VolumeError: no dataset; several series; a missing or unreadable geometry attribute
            (naming it and the instance); orientations or pixel spacings that differ; fewer
            than two slices; two images at one position; unevenly spaced slices (listing the
            gaps); pixel data absent or not decodable.
    """
    if not datasets:
        raise VolumeError("no instances given: a volume needs the instances of one series")
    label = _series_label(datasets)
    planes = [plane for ds in datasets for plane in _planes(ds, label)]
    if len(planes) < 2:
        raise VolumeError(f"{label}: only {len(planes)} slice; a volume needs at least two")
    orientation, pixel_spacing = _common_geometry(planes, label)
    normal = np.cross(orientation[:3], orientation[3:])
    normal /= np.linalg.norm(normal)
    positions = np.array([plane.position for plane in planes])
    order = np.argsort(positions @ normal, kind="stable")
    planes = [planes[i] for i in order]
    positions = positions[order]
    origin, step = _regular_stack(positions, normal, label)
    affine = np.eye(4)
    affine[:3, 0] = orientation[:3] * pixel_spacing[1]  # i: along a row, PixelSpacing[1] apart (columns)
    affine[:3, 1] = orientation[3:] * pixel_spacing[0]  # j: down a column, PixelSpacing[0] apart (rows)
    affine[:3, 2] = step
    affine[:3, 3] = origin
    array = _assemble(planes, label)
    low, high = float(array.min()), float(array.max())
    if not low < high:
        raise VolumeError(f"{label}: every pixel of its {len(planes)} images is {low:g}: the series holds no image")
    volume = SeriesVolume(
        array=array,
        affine_lps=affine,
        series_uid=str(datasets[0].SeriesInstanceUID),
        series_description=values.as_text(datasets[0].get("SeriesDescription")),
        frame_of_reference_uid=_frame_of_reference(datasets, label),
        sop_instance_uids=tuple(str(p.image.dataset.get("SOPInstanceUID", "")) for p in planes),
        frame_numbers=tuple(None if p.image.frame is None else p.image.frame + 1 for p in planes),
        slice_positions=positions,
        pixel_spacing=pixel_spacing,
        slice_spacing=float(np.linalg.norm(step)),
    )
    logger.debug(
        "%s: volume %s, voxels %.2f x %.2f x %.2f mm", label, volume.shape, *pixel_spacing[::-1], volume.slice_spacing
    )
    return volume


def _series_label(datasets: Sequence[Dataset]) -> str:
    """The label of the one series the datasets belong to; VolumeError when they are of several or none."""
    uids = sorted({str(ds.get("SeriesInstanceUID", "")).strip() for ds in datasets})
    if len(uids) > 1:
        raise VolumeError(f"instances of {len(uids)} series given ({', '.join(uids[:3])}): a volume is one series")
    if not uids[0]:
        raise VolumeError(f"SeriesInstanceUID (0020,000E) missing in {where(datasets[0])}")
    return _label(uids[0], values.as_text(datasets[0].get("SeriesDescription")))


def _planes(ds: Dataset, label: str) -> Iterator[_Plane]:
    """The images of one instance, each with the position, orientation and pixel spacing it must have."""
    frames = frame_count(ds)
    if not has_functional_groups(ds) and frames > 1:
        raise VolumeError(
            f"{label}: {where(ds)} has {frames} frames but no Per-frame Functional Groups Sequence (5200,9230): "
            "the frames have no position"
        )
    for image in image_planes(ds):
        spacing = image.require("pixel_spacing", label)
        yield _Plane(
            image, image.require("position", label), image.require("orientation", label), (spacing[0], spacing[1])
        )


def _common_geometry(planes: list[_Plane], label: str) -> tuple[np.ndarray, tuple[float, float]]:
    """The first image's orientation and PixelSpacing, when every image has them within tolerance."""
    first = planes[0]
    row, column = first.orientation[:3], first.orientation[3:]
    if min(np.linalg.norm(row), np.linalg.norm(column)) < 0.5 or np.linalg.norm(np.cross(row, column)) < 0.5:
        raise VolumeError(f"{label}: ImageOrientationPatient {first.orientation.tolist()} is not two unit vectors")
    if min(first.pixel_spacing) <= 0:
        raise VolumeError(f"{label}: PixelSpacing {list(first.pixel_spacing)} in {first.where} is not positive")
    for plane in planes[1:]:
        for name, tolerance, a, b in (
            ("ImageOrientationPatient", ORIENTATION_TOLERANCE, first.orientation, plane.orientation),
            ("PixelSpacing", PIXEL_SPACING_TOLERANCE_MM, np.array(first.pixel_spacing), np.array(plane.pixel_spacing)),
        ):
            if np.abs(a - b).max() > tolerance:
                raise VolumeError(
                    f"{label}: {name} differs between images ({a.tolist()} in {first.where}, {b.tolist()} in "
                    f"{plane.where}): not one stack of parallel slices"
                )
    return first.orientation, (float(first.pixel_spacing[0]), float(first.pixel_spacing[1]))


def _regular_stack(positions: np.ndarray, normal: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Origin and step of the least-squares stack `origin + k * step` through sorted positions.

    Raises:
        VolumeError: two images at one position, or a position further than the tolerance from the
            regular stack (uneven gaps, a missing slice, a shift within the plane).
    """
    distances = positions @ normal
    gaps = np.diff(distances)
    if gaps.min() < POSITION_MERGE_MM:
        at = float(distances[int(np.argmin(gaps))])
        raise VolumeError(
            f"{label}: several images at one position ({at:.2f} mm along the normal): repeated echoes, phases "
            "or b-values are not one volume"
        )
    index = np.arange(len(positions), dtype=np.float64)
    design = np.stack([np.ones_like(index), index], axis=1)
    (origin, step), *_ = np.linalg.lstsq(design, positions, rcond=None)
    residual = np.linalg.norm(positions - design @ np.stack([origin, step]), axis=1)
    tolerance = max(SPACING_ATOL_MM, SPACING_RTOL * float(np.linalg.norm(step)))
    if residual.max() > tolerance:
        counts = Counter(round(float(gap), 2) for gap in gaps)
        found = ", ".join(f"{gap:g} mm x{n}" for gap, n in sorted(counts.items()))
        raise VolumeError(
            f"{label}: slices are not evenly spaced: gaps along the normal {found} (tolerance {tolerance:.2f} mm); "
            "a slice is missing or the series holds several stacks"
        )
    shear = np.degrees(np.arccos(min(1.0, abs(float(step @ normal)) / float(np.linalg.norm(step)))))
    if shear > 0.5:
        logger.debug("%s: slices stacked %.1f deg off their normal (sheared grid kept in the affine)", label, shear)
    return origin, step


def _frame_of_reference(datasets: Sequence[Dataset], label: str) -> str | None:
    """The FrameOfReferenceUID the instances share (None when absent); VolumeError when they differ."""
    uids = {values.as_text(ds.get("FrameOfReferenceUID")) for ds in datasets}
    if len(uids) > 1:
        raise VolumeError(f"{label}: instances in several frames of reference ({sorted(map(str, uids))})")
    return uids.pop()


def _decode(ds: Dataset, label: str) -> np.ndarray:
    """The instance's pixels as (frames, rows, columns), before any rescale; VolumeError when not decodable."""
    if not any(keyword in ds for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise VolumeError(f"{label}: PixelData (7FE0,0010) missing in {where(ds)}")
    if (values.as_int(ds.get("SamplesPerPixel")) or 1) != 1:
        raise VolumeError(f"{label}: SamplesPerPixel {ds.SamplesPerPixel} in {where(ds)}: expected a grey image")
    try:
        pixels = ds.pixel_array
    except _DECODE_ERRORS as err:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax) or "unknown transfer syntax"
        raise VolumeError(f"{label}: cannot decode the pixel data ({name}) of {where(ds)}: {err}") from err
    return pixels[None] if pixels.ndim == 2 else pixels


def _rescaled_frame(image: ImagePlane, pixels: np.ndarray, label: str) -> np.ndarray:
    """Stored values to modality values (PS3.3 C.11.1 for one frame, C.7.6.16.2.9 for each frame of a multi-frame)."""
    ds, frame = image.dataset, image.frame
    if frame is None:
        return apply_modality_lut(pixels[0], ds)
    if frame >= len(pixels):
        raise VolumeError(f"{label}: {image.where} is beyond the {len(pixels)} frames of its pixel data")

    def transformation(attribute: str) -> object:
        return values.functional_value(image.per_frame, image.shared, "PixelValueTransformationSequence", attribute)

    slope = values.first_number(transformation("RescaleSlope"), ds.get("RescaleSlope"))
    intercept = values.first_number(transformation("RescaleIntercept"), ds.get("RescaleIntercept"))
    if slope is None and intercept is None:
        return pixels[frame]
    # Same arithmetic as pydicom's apply_modality_lut, so both paths give bitwise the same values.
    rescaled = pixels[frame].astype(np.float64) * (1.0 if slope is None else slope)
    rescaled += 0.0 if intercept is None else intercept
    return rescaled


def _assemble(planes: list[_Plane], label: str) -> np.ndarray:
    """The sorted images as one float32 (columns, rows, slices) array; a multi-frame instance is decoded once."""
    multiframe: dict[int, np.ndarray] = {}
    array: np.ndarray | None = None
    for k, plane in enumerate(planes):
        ds, frame = plane.image.dataset, plane.image.frame
        pixels = multiframe.get(id(ds)) if frame is not None else None
        if pixels is None:
            pixels = _decode(ds, label)
            if frame is not None:
                multiframe[id(ds)] = pixels
        image = _rescaled_frame(plane.image, pixels, label)
        if array is None:
            array = np.empty((image.shape[1], image.shape[0], len(planes)), dtype=np.float32)
        if image.shape != array.shape[1::-1]:
            raise VolumeError(
                f"{label}: image of {image.shape[0]} rows x {image.shape[1]} columns in {plane.where}, "
                f"the first has {array.shape[1]} x {array.shape[0]}"
            )
        array[:, :, k] = image.T
    return array
