"""Slice geometry of an MR series in DICOM patient coordinates, and sampling a 1 mm RAS volume onto it.

DICOM patient coordinates are LPS (x to the patient's left, y posterior, z
superior; PS3.3 C.7.6.2.1.1); the simulator's 1 mm grid is RAS. A stack is
what the Image Plane module says about each image: ImageOrientationPatient
(row direction: along a row, towards increasing column index; column
direction: down a column), PixelSpacing (between rows, between columns) and
ImagePositionPatient (centre of the first transmitted pixel) per slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Flips x and y: the same matrix maps RAS to LPS and LPS to RAS."""


@dataclass(frozen=True)
class SliceStack:
    """Parallel slices of one orientation, in the order they are numbered (InstanceNumber).

    Args:
        row_direction: unit LPS vector along a row (first triplet of ImageOrientationPatient).
        column_direction: unit LPS vector down a column (second triplet).
        pixel_spacing: (between rows, between columns) in mm, as PixelSpacing.
        rows: pixels per column (Rows).
        columns: pixels per row (Columns).
        positions: (n, 3) ImagePositionPatient of each slice, instance order.
        thickness_mm: SliceThickness.
    """

    row_direction: np.ndarray
    column_direction: np.ndarray
    pixel_spacing: tuple[float, float]
    rows: int
    columns: int
    positions: np.ndarray
    thickness_mm: float

    @property
    def normal(self) -> np.ndarray:
        """Row direction x column direction: the direction slices are stacked in (PS3.3 C.7.6.2.1.1)."""
        return np.cross(self.row_direction, self.column_direction)

    @property
    def spacing_mm(self) -> float:
        """Centre-to-centre distance of neighbouring slices (SpacingBetweenSlices); the thickness for one slice."""
        if len(self.positions) < 2:
            return self.thickness_mm
        return float(abs(np.dot(self.positions[1] - self.positions[0], self.normal)))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, slices): the index order of `affine`."""
        return (self.columns, self.rows, len(self.positions))

    @property
    def affine(self) -> np.ndarray:
        """4x4 map from (column, row, slice in instance order) to LPS mm."""
        affine = np.eye(4)
        affine[:3, 0] = self.row_direction * self.pixel_spacing[1]
        affine[:3, 1] = self.column_direction * self.pixel_spacing[0]
        step = self.positions[1] - self.positions[0] if len(self.positions) > 1 else self.normal * self.thickness_mm
        affine[:3, 2] = step
        affine[:3, 3] = self.positions[0]
        return affine

    def slice_locations(self) -> np.ndarray:
        """SliceLocation per slice: the position's projection on the normal, in mm."""
        return self.positions @ self.normal


def rotation(pitch_deg: float = 0.0, yaw_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rotation about the patient's left-right (pitch), inferior-superior (yaw) and anterior-posterior (roll) axes."""
    a, b, c = np.deg2rad([pitch_deg, yaw_deg, roll_deg])
    about_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    about_z = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    about_y = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return about_z @ about_y @ about_x


PLANES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # Viewed from the feet, patient left on screen right, anterior up.
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    # Nose to the left of the screen, vertex up: first row superior.
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    # Viewed from the front, patient left on screen right, vertex up.
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}
"""Row and column directions (LPS) of the three standard planes, as scanners write them."""


def make_stack(
    plane: str,
    centre_lps: np.ndarray,
    fov_mm: tuple[float, float],
    matrix: tuple[int, int],
    slices: int,
    thickness_mm: float,
    spacing_mm: float,
    tilt: np.ndarray | None = None,
    reverse: bool = False,
) -> SliceStack:
    """A stack of `slices` parallel slices centred on `centre_lps`.

    Args:
        plane: "axial", "sagittal" or "coronal".
        centre_lps: centre of the imaged box in LPS mm.
        fov_mm: (along a column, along a row), i.e. rows x pixel spacing and columns x spacing.
        matrix: (rows, columns).
        slices: number of slices.
        thickness_mm: slice thickness.
        spacing_mm: centre-to-centre slice distance (thickness plus gap for 2D).
        tilt: optional 3x3 rotation applied to the plane (obliquity).
        reverse: number slices against the normal (e.g. axial from the vertex down).
    """
    row_dir, col_dir = (np.asarray(v) for v in PLANES[plane])
    if tilt is not None:
        row_dir, col_dir = tilt @ row_dir, tilt @ col_dir
    rows, columns = matrix
    spacing = (fov_mm[0] / rows, fov_mm[1] / columns)
    normal = np.cross(row_dir, col_dir)
    offsets = (np.arange(slices) - (slices - 1) / 2.0) * spacing_mm
    if reverse:
        offsets = offsets[::-1]
    corner = -(columns - 1) / 2.0 * spacing[1] * row_dir - (rows - 1) / 2.0 * spacing[0] * col_dir
    positions = np.asarray(centre_lps, dtype=np.float64)[None] + offsets[:, None] * normal[None] + corner[None]
    return SliceStack(row_dir, col_dir, spacing, rows, columns, positions, thickness_mm)


def _blur_sigmas(stack: SliceStack, source_mm: float) -> np.ndarray:
    """Per-axis (RAS grid) Gaussian sigmas, in voxels, of a voxel's box profile beyond the source's own.

    A box of width w has the variance w^2 / 12; only what exceeds the source
    voxel is added, along the grid axis closest to each stack direction.
    """
    sigmas = np.zeros(3)
    widths = (stack.pixel_spacing[1], stack.pixel_spacing[0], stack.thickness_mm)
    for direction, width in zip((stack.row_direction, stack.column_direction, stack.normal), widths, strict=True):
        extra = max(width**2 - source_mm**2, 0.0) / 12.0
        axis = int(np.argmax(np.abs(direction)))
        sigmas[axis] = np.sqrt(sigmas[axis] ** 2 + extra) / source_mm
    return sigmas


def partial_volume(volume: np.ndarray, stack: SliceStack, source_mm: float = 1.0) -> np.ndarray:
    """The volume blurred to the stack's voxel size: slice thickness through-plane, coarse pixels in-plane.

    The blur is Gaussian with the variance of the voxel's box profile (no
    half-voxel shift, unlike an even-width box filter), along the grid axis
    nearest to each slice direction: exact for straight slices and close for
    the few degrees of obliquity a technologist applies.
    """
    sigmas = _blur_sigmas(stack, source_mm)
    if not np.any(sigmas > 0.1):
        return volume
    return ndimage.gaussian_filter(volume, sigmas, mode="nearest", truncate=3.0).astype(np.float32)


def voxel_coordinates(stack: SliceStack, ras_affine: np.ndarray, first: int = 0, stop: int | None = None) -> np.ndarray:
    """Source-grid voxel coordinates (3, slices, rows, columns) of the stack's pixel centres.

    The map is affine in (slice, row, column), so each axis is a sum of three
    broadcast terms: no per-pixel matrix product.
    """
    to_voxel = np.linalg.inv(ras_affine) @ LPS_FROM_RAS
    origins = stack.positions[first:stop] @ to_voxel[:3, :3].T + to_voxel[:3, 3]
    down = to_voxel[:3, :3] @ stack.column_direction * stack.pixel_spacing[0]
    across = to_voxel[:3, :3] @ stack.row_direction * stack.pixel_spacing[1]
    r = np.arange(stack.rows, dtype=np.float32)
    c = np.arange(stack.columns, dtype=np.float32)
    coords = np.empty((3, len(origins), stack.rows, stack.columns), dtype=np.float32)
    for axis in range(3):
        coords[axis] = (
            origins[:, axis, None, None].astype(np.float32)
            + (r * np.float32(down[axis]))[None, :, None]
            + (c * np.float32(across[axis]))[None, None, :]
        )
    return coords


def sample(
    volumes: list[np.ndarray], modes: list[str], ras_affine: np.ndarray, stack: SliceStack, chunk: int = 24
) -> list[np.ndarray]:
    """Trilinear samples of each volume at the stack's pixel centres, (slices, rows, columns) float32.

    Args:
        volumes: 3D arrays on the grid of `ras_affine`.
        modes: per volume, "constant" (0 outside the grid: air) or "nearest" (smooth fields that extend).
        ras_affine: voxel to RAS mm of the source grid.
        stack: where to sample.
        chunk: slices per batch, to bound the memory of the coordinate arrays.
    """
    n = len(stack.positions)
    out = [np.empty((n, stack.rows, stack.columns), dtype=np.float32) for _ in volumes]
    for first in range(0, n, chunk):
        coords = voxel_coordinates(stack, ras_affine, first, first + chunk)
        for volume, mode, target in zip(volumes, modes, out, strict=True):
            target[first : first + chunk] = ndimage.map_coordinates(volume, coords, order=1, mode=mode, cval=0.0)
    return out
