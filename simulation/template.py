"""The anatomical template every subject is deformed from: MNI152 tissue maps.

nilearn ships the ICBM152 2009a symmetric GM, WM and brain-mask maps at 1 mm;
CSF is what the mask holds beyond GM and WM. Whole-head shells and the
vascular structures that enhance after contrast are placed relative to a
smooth brain envelope computed here once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Template:
    """Tissue fractions on the template grid (1 mm, RAS affine).

    `envelope_distance_mm` is the signed distance to a smoothed brain envelope
    (negative inside): shells of the whole head are bands of it.
    """

    affine: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain_mask: np.ndarray
    envelope_distance_mm: np.ndarray
    choroid: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.gm.shape

    def world_coordinates(self) -> np.ndarray:
        """RAS millimetre coordinates of every voxel, shape (3, X, Y, Z)."""
        index = np.indices(self.shape, dtype=np.float32).reshape(3, -1)
        world = self.affine[:3, :3] @ index + self.affine[:3, 3:4]
        return world.reshape(3, *self.shape).astype(np.float32)


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """Load the 1 mm MNI152 maps that ship inside nilearn (no download)."""
    from nilearn import datasets

    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).dataobj, dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).dataobj, dtype=np.float32)
    # The mask is binary: soften its edge so the brain surface has partial volume.
    mask = ndimage.gaussian_filter(np.asarray(mask_img.dataobj, dtype=np.float32), 0.7)
    gm, wm = gm * mask, wm * mask
    tissue = gm + wm
    over = tissue > mask
    scale = np.where(over, mask / np.maximum(tissue, 1e-6), 1.0).astype(np.float32)
    gm, wm = gm * scale, wm * scale
    csf = np.clip(mask - gm - wm, 0.0, 1.0)

    envelope = ndimage.gaussian_filter(mask, 6.0) > 0.3
    outside = ndimage.distance_transform_edt(~envelope)
    inside = ndimage.distance_transform_edt(envelope)
    distance = (outside - inside).astype(np.float32)

    template = Template(
        affine=np.asarray(mask_img.affine, dtype=np.float64),
        gm=gm,
        wm=wm,
        csf=csf,
        brain_mask=mask,
        envelope_distance_mm=distance,
        choroid=np.zeros_like(mask),
    )
    return Template(**{**template.__dict__, "choroid": _choroid_plexus(template)})


def _choroid_plexus(template: Template) -> np.ndarray:
    """Fraction map of the choroid plexus: tufts in the atria of the lateral ventricles.

    It enhances after gadolinium and is one of the landmarks a radiologist
    expects to see bright on a post-contrast T1.
    """
    x, y, z = template.world_coordinates()
    ventricles = (template.csf > 0.6) & (template.envelope_distance_mm < -18)
    atria = ventricles & (np.abs(x) > 14) & (y > -42) & (y < -28) & (z > 4) & (z < 20)
    eroded = ndimage.binary_erosion(atria, iterations=2)
    return np.clip(ndimage.gaussian_filter(eroded.astype(np.float32), 1.0), 0.0, 0.6) * template.csf
