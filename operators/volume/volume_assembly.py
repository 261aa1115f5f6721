"""Bring the chosen contrasts' series onto one grid in patient space, and a synthetic volume back onto a series.

`common_grid` resamples each `SeriesVolume` (operators.volume.dicom_volume) onto one
axis-aligned RAS grid, isotropic at `spacing_mm`, that covers the union of the
volumes' bounding boxes (or the box of one named series): the input that
`models.data.preprocessing.to_model_grid` expects. Every map between grids
goes through the volumes' full affines (PS3.3 C.7.6.2.1.1), so oblique,
sheared or differently oriented stacks land in the same place; the grid's own
axes are never assumed to match a series'. `to_reference_geometry` samples a
volume on any RAS grid (the common grid, the model grid) at a reference
series' voxel centres, slice for slice in the reference's slice order, and
`choose_reference` picks that series.

Series are only combined within one Frame of Reference: two series in
different frames (another session, a re-positioned patient) need a
registration this module does not do. `allow_different_frames=True` combines
them anyway, which is only right when the patient did not move between them.

Resampling is trilinear through `models.data.resampling.resample_to_grid`
(MONAI's `SpatialResample`, as on the way to the model grid) on the source
padded by one edge voxel, so that the outer half of each border voxel holds
data; each volume's `coverage` marks the grid voxels whose centre lies inside
that volume's voxel box, and the volume is zero elsewhere. Before going to a
coarser grid a source is low-pass filtered along its own axes (Gaussian,
sigma = (factor - 1) / 2 voxels, as scikit-image's `resize` anti-aliasing).
A synthetic volume goes from the model grid straight to each grid it is
written on (`to_reference_geometry`, `to_common_grid`): one interpolation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from models.data.resampling import resample_to_grid
from operators.errors import VolumeError
from operators.volume.dicom_volume import SeriesVolume

logger = logging.getLogger(__name__)

AXIAL_MAX_ANGLE_DEG = 30.0
"""A series is axial when its slice normal is within this angle of the patient's z (head-foot) axis."""

UNION = "union"
"""`common_grid(extent=UNION)`: the grid covers every volume."""


@dataclass(frozen=True, eq=False)
class CommonGrid:
    """Volumes of several series on one axis-aligned RAS grid.

    Attributes:
        volumes: per key (e.g. contrast), float32 array of `shape`.
        affine_ras: 4x4 voxel-to-RAS-mm map of the grid (diagonal spacing, no rotation).
        shape: the grid's shape.
        coverage: per key, bool array of `shape`: True where the source volume had data.
    """

    volumes: dict[str, np.ndarray]
    affine_ras: np.ndarray
    shape: tuple[int, int, int]
    coverage: dict[str, np.ndarray]

    @property
    def spacing_mm(self) -> float:
        """The isotropic voxel size."""
        return float(self.affine_ras[0, 0])


class ReferenceChoice(str):
    """The key of the chosen reference series (a plain `str` everywhere), with the `reason` it was chosen."""

    reason: str

    def __new__(cls, key: str, reason: str = "") -> ReferenceChoice:
        choice = super().__new__(cls, key)
        choice.reason = reason
        return choice


def common_grid(
    volumes: dict[str, SeriesVolume],
    spacing_mm: float = 1.0,
    *,
    extent: str = UNION,
    allow_different_frames: bool = False,
    antialias: bool = True,
) -> CommonGrid:
    """Resample several series onto one isotropic RAS grid covering them.

    Args:
        volumes: series volumes by key (e.g. "t1", "t2", "flair").
        spacing_mm: voxel size of the grid.
        extent: `UNION` ("union") for a grid covering every volume's box, or one of the keys for a
            grid covering that volume's box only (the others are cut to it).
        allow_different_frames: combine series whose FrameOfReferenceUID differs or is missing,
            without registration: right only if the patient did not move between them.
        antialias: low-pass each source along the axes where the grid is coarser than it.

    Returns:
        The grid, each volume on it (zero outside its coverage) and each volume's coverage.

    Raises:
        VolumeError: no volume, an unknown `extent`, a spacing not positive, or series in different
            (or unknown) frames of reference, naming both series.
    """
    if not volumes:
        raise VolumeError("no volume given: nothing to put on a common grid")
    if not spacing_mm > 0:
        raise VolumeError(f"grid spacing {spacing_mm!r} mm: expected a positive number")
    if extent != UNION and extent not in volumes:
        raise VolumeError(f"grid extent {extent!r}: expected {UNION!r} or one of {sorted(volumes)}")
    _check_frames(volumes, allow_different_frames)
    boxes = [_box_ras(v.affine_ras, v.shape) for key, v in volumes.items() if extent in (UNION, key)]
    low = np.min([box[0] for box in boxes], axis=0)
    high = np.max([box[1] for box in boxes], axis=0)
    shape = tuple(int(n) for n in np.ceil((high - low) / spacing_mm - 1e-6))
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = low + spacing_mm / 2.0
    resampled, coverage = {}, {}
    for key, volume in volumes.items():
        source = _antialiased(volume.array, volume.affine_ras, spacing_mm) if antialias else volume.array
        resampled[key], coverage[key] = _sample(source, volume.affine_ras, affine, shape)
    logger.info(
        "common grid %s at %.2f mm (%s) for %s",
        "x".join(map(str, shape)),
        spacing_mm,
        "union of all" if extent == UNION else f"extent of {extent}",
        ", ".join(f"{k}: {v.label}, {coverage[k].mean():.0%} covered" for k, v in volumes.items()),
    )
    return CommonGrid(resampled, affine, shape, coverage)


def to_reference_geometry(volume: np.ndarray, grid_affine_ras: np.ndarray, reference: SeriesVolume) -> np.ndarray:
    """Sample a volume on any RAS grid at the voxel centres of a reference series.

    The result is indexed like `reference.array`: slice k lies at `reference.slice_positions[k]`,
    the position of instance `reference.sop_instance_uids[k]`, so a series written from it lines
    up with the reference slice for slice. Values are trilinear point samples (no slice-thickness
    profile); reference voxels outside the grid's box are 0.

    Args:
        volume: 3D array on the grid of `grid_affine_ras`.
        grid_affine_ras: 4x4 voxel-to-RAS-mm map of that grid (any orientation).
        reference: the series whose geometry the result takes.

    Returns:
        float32 array of `reference.shape`.

    Raises:
        VolumeError: `volume` is not 3D or the affine not an invertible 4x4 matrix.
    """
    volume = np.asarray(volume)
    affine = np.asarray(grid_affine_ras, dtype=np.float64)
    if volume.ndim != 3:
        raise VolumeError(f"volume of shape {volume.shape}: expected a 3D array to put on {reference.label}")
    if affine.shape != (4, 4) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise VolumeError(f"grid affine {affine.tolist()}: expected an invertible 4x4 voxel-to-RAS matrix")
    values, _ = _sample(volume, affine, reference.affine_ras, reference.shape)
    return values


def to_common_grid(volume: np.ndarray, source_affine_ras: np.ndarray, grid: CommonGrid) -> np.ndarray:
    """Sample a volume on any RAS grid (the model grid) onto the common grid, 0 outside the source's box."""
    values, _ = _sample(
        np.asarray(volume), np.asarray(source_affine_ras, dtype=np.float64), grid.affine_ras, grid.shape
    )
    return values


def choose_reference(volumes: dict[str, SeriesVolume]) -> ReferenceChoice:
    """The series whose geometry the synthetic series take: the axial one with the finest in-plane pixels.

    Axial means a slice normal within AXIAL_MAX_ANGLE_DEG of the LPS z axis. Among the candidates the
    smallest pixel area wins, then the thinner slice spacing, then the first key in sorted order. With
    no axial series, the series with the finest in-plane pixels is taken by the same order.

    Args:
        volumes: series volumes by key.

    Returns:
        The chosen key, a `str` carrying a `reason` attribute for the report.

    Raises:
        VolumeError: no volume given.
    """
    if not volumes:
        raise VolumeError("no volume given: no reference series to choose")
    angles = {key: _angle_from_z(v) for key, v in volumes.items()}
    axial = sorted(key for key, angle in angles.items() if angle <= AXIAL_MAX_ANGLE_DEG)
    candidates = axial or sorted(volumes)

    def finest(key: str) -> tuple[float, float, str]:
        volume = volumes[key]
        return (volume.pixel_spacing[0] * volume.pixel_spacing[1], volume.slice_spacing, key)

    key = min(candidates, key=finest)
    chosen = volumes[key]
    pixels = (
        f"{chosen.pixel_spacing[1]:.2f} x {chosen.pixel_spacing[0]:.2f} mm pixels, {chosen.slice_spacing:.2f} mm apart"
    )
    if axial:
        reason = (
            f"{key} ({chosen.label}): axial (normal {angles[key]:.1f} deg from z) with the finest in-plane pixels "
            f"of the axial series {axial} ({pixels})"
        )
    else:
        tilts = ", ".join(f"{k} {angles[k]:.0f} deg" for k in sorted(angles))
        reason = f"{key} ({chosen.label}): no axial series (normals from z: {tilts}); finest in-plane pixels ({pixels})"
    logger.info("reference series %s", reason)
    return ReferenceChoice(key, reason)


def _angle_from_z(volume: SeriesVolume) -> float:
    """Angle in degrees between the slice normal (either sense) and the patient's z axis."""
    return float(np.degrees(np.arccos(min(1.0, abs(float(volume.normal_lps[2]))))))


def _check_frames(volumes: dict[str, SeriesVolume], allow: bool) -> None:
    """VolumeError naming both series when two volumes are not in one known frame of reference."""
    keys = list(volumes)
    first = volumes[keys[0]]
    for key in keys[1:]:
        other = volumes[key]
        if first.frame_of_reference_uid and first.frame_of_reference_uid == other.frame_of_reference_uid:
            continue
        message = (
            f"{keys[0]} {first.label} is in frame of reference {first.frame_of_reference_uid or '(none)'}, "
            f"{key} {other.label} in {other.frame_of_reference_uid or '(none)'} (FrameOfReferenceUID (0020,0052))"
        )
        if not allow:
            raise VolumeError(f"{message}: their coordinates are not comparable without registration")
        logger.warning("%s: combined without registration, right only if the patient did not move", message)


def _box_ras(affine_ras: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(2, 3) lowest and highest RAS corner of the voxel box (voxel edges, not centres) of a grid."""
    edges = [(-0.5, n - 0.5) for n in shape]
    corners = np.array([[i, j, k, 1.0] for i in edges[0] for j in edges[1] for k in edges[2]])
    points = corners @ affine_ras.T
    return np.array([points[:, :3].min(axis=0), points[:, :3].max(axis=0)])


def _antialiased(array: np.ndarray, affine: np.ndarray, spacing_mm: float) -> np.ndarray:
    """The array low-passed along each axis whose voxels are smaller than `spacing_mm` (sigma (factor - 1) / 2)."""
    sizes = np.linalg.norm(affine[:3, :3], axis=0)
    sigmas = np.maximum(0.0, (spacing_mm / sizes - 1.0) / 2.0)
    if sigmas.max() < 0.1:
        return array
    return ndimage.gaussian_filter(array, sigmas, mode="nearest", truncate=3.0).astype(np.float32)


def _sample(
    array: np.ndarray, source_affine: np.ndarray, target_affine: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Trilinear samples of `array` at the target voxel centres, zero outside its voxel box, and that box's mask.

    The source is padded by one replicated voxel (its affine shifted by one voxel to match) so that
    points between the outermost voxel centres and the box's edge take the border value.
    """
    shape = tuple(int(n) for n in shape)
    padded = np.pad(np.asarray(array, dtype=np.float32), 1, mode="edge")
    shift = np.eye(4)
    shift[:3, 3] = -1.0
    values = resample_to_grid(padded, source_affine @ shift, target_affine, shape, order=1)
    covered = _inside(source_affine, array.shape, target_affine, shape)
    values[~covered] = 0.0
    return values, covered


def _inside(
    source_affine: np.ndarray, source_shape: tuple[int, ...], target_affine: np.ndarray, shape: tuple
) -> np.ndarray:
    """Target voxels whose centre maps inside the source's voxel box [-0.5, n - 0.5] on every axis."""
    mapping = np.linalg.inv(source_affine) @ target_affine
    axes = [np.arange(n, dtype=np.float32) for n in shape]
    inside = np.ones(shape, dtype=bool)
    for row, n in zip(mapping[:3], source_shape):
        coordinate = (
            np.float32(row[3])
            + (np.float32(row[0]) * axes[0])[:, None, None]
            + (np.float32(row[1]) * axes[1])[None, :, None]
            + (np.float32(row[2]) * axes[2])[None, None, :]
        )
        inside &= (coordinate >= -0.5) & (coordinate <= n - 0.5)
    return inside
