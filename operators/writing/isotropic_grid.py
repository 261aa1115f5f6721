"""The "1 mm isotropic grid" output: synthetic series written on the common RAS grid instead of a reference series.

Some users want the synthetic contrasts exactly as the model made them (no
second resampling), e.g. to feed a segmenter that works at 1 mm. The common
grid (`operators.volume.volume_assembly.CommonGrid`) is axis-aligned in RAS with a
diagonal, positive affine, so its axial slices are standard DICOM axial
images: rows along patient left (+x LPS), columns along posterior (+y LPS),
slices ordered feet to head (+z). This module makes header-only "virtual"
instances of that grid (geometry, study, frame of reference) for the SC writer
to stack its slices on; they are never written. Each synthetic slice
references, as its source image, the acquired reference slice nearest to it.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

from operators.errors import VolumeError
from operators.selection.slice_geometry import image_planes
from operators.writing.sc_reference import PATIENT_STUDY_KEYWORDS, reference_grid

AXIAL_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
"""Image Orientation (Patient) of the grid's slices: rows towards the patient's left, columns posterior."""
_KEPT = ("SOPClassUID", "SeriesInstanceUID", "FrameOfReferenceUID", "PositionReferenceIndicator", "PatientPosition")


def _check_grid(affine_ras: np.ndarray, shape: tuple[int, ...]) -> float:
    affine = np.asarray(affine_ras, dtype=np.float64)
    if affine.shape != (4, 4) or len(shape) != 3:
        raise VolumeError(f"isotropic grid: expected a 4x4 affine and a 3D shape, got {affine.shape} and {shape}")
    spacing = float(affine[0, 0])
    if not spacing > 0 or not np.allclose(affine[:3, :3], np.eye(3) * spacing, atol=1e-6):
        raise VolumeError(f"isotropic grid affine {affine.tolist()}: expected a positive diagonal, equal spacings")
    return spacing


def isotropic_reference(template: Sequence[Dataset], affine_ras: np.ndarray, shape: tuple[int, int, int]):
    """Virtual axial instances of the RAS grid `affine_ras`/`shape`, one per slice, feet to head.

    Args:
        template: instances of an acquired series of the study: patient, study, frame of reference and
            series identity are taken from its first instance.
        affine_ras: voxel-to-RAS-mm map of the grid (axis-aligned, isotropic).
        shape: (x, y, z) shape of the grid.

    Returns:
        Header-only datasets with the Image Plane attributes of each grid slice.
    """
    spacing = _check_grid(affine_ras, shape)
    if not template:
        raise VolumeError("isotropic grid: no acquired instance to take the study and frame of reference from")
    first = template[0]
    nx, ny, nz = (int(n) for n in shape)
    corner = np.asarray(affine_ras, dtype=np.float64) @ np.array([nx - 1, ny - 1, 0, 1.0])
    slices = []
    for k in range(nz):
        ds = Dataset()
        for keyword in (*PATIENT_STUDY_KEYWORDS, *_KEPT):
            if keyword in first:
                ds.add(copy.deepcopy(first[keyword]))
        ds.SOPInstanceUID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'{first.SeriesInstanceUID}/grid/{k}').int}"
        # LPS = (-R, -A, S): the first pixel of slice k is the grid voxel (nx-1, ny-1, k).
        ds.ImagePositionPatient = [round(-corner[0], 4), round(-corner[1], 4), round(corner[2] + k * spacing, 4)]
        ds.ImageOrientationPatient = list(AXIAL_ORIENTATION)
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = spacing
        ds.Rows, ds.Columns = ny, nx
        slices.append(ds)
    return slices


def grid_volume_for_writer(volume: np.ndarray) -> np.ndarray:
    """A volume indexed [x R, y A, z S] re-indexed [column, row, slice] for `isotropic_reference`'s slices."""
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise VolumeError(f"isotropic grid: volume of shape {volume.shape}, expected 3D")
    return np.ascontiguousarray(volume[::-1, ::-1, :])


def _centre(ds: Dataset) -> np.ndarray:
    """The centre of a virtual slice, in patient coordinates (mm)."""
    plane = next(image_planes(ds))
    label = "isotropic grid"
    orientation, (spacing_row, spacing_col) = plane.require("orientation", label), plane.require("pixel_spacing", label)
    half = (int(ds.Columns) - 1) / 2 * spacing_col * orientation[:3] + (
        int(ds.Rows) - 1
    ) / 2 * spacing_row * orientation[3:]
    return plane.require("position", label) + half


def nearest_acquired(virtual: Sequence[Dataset], acquired: Sequence[Dataset]) -> list[Dataset]:
    """For each virtual slice, the acquired instance whose plane is nearest its centre (its Source Image)."""
    grid = reference_grid(acquired)
    row, col = np.array(grid.orientation[:3]), np.array(grid.orientation[3:])
    normal, positions = np.cross(row, col), np.array(grid.positions)
    return [grid.datasets[int(np.argmin(np.abs(positions - _centre(ds) @ normal)))] for ds in virtual]
