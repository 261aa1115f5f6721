"""One simulated subject: parameters drawn from a generator, then a deterministic simulation.

`sample_subject` draws everything random (torchio's pattern: parameters apart
from the transform), `simulate_subject` turns parameters into noise-free
contrasts, labels and a brain mask, and `acquire` adds what one acquisition
adds (bias field, slice thickness, Rician noise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simulation import CONTRASTS
from simulation.artifacts import bias_field, noise_sigma, rician_noise, slice_blur
from simulation.deformation import (
    WarpParameters,
    compose,
    mass_effect_coordinates,
    resample,
    sample_warp,
    warp_coordinates,
)
from simulation.head import HeadParameters, head_fractions, sample_head
from simulation.lesions import GliomaParameters, WmhParameters, paint_glioma, paint_wmh, sample_glioma, sample_wmh
from simulation.protocols import SequenceProtocol, sample_protocols
from simulation.rendering import render
from simulation.template import Template, load_template
from simulation.tissues import TISSUES, jittered_tissue_table

SubjectKind = Literal["glioma", "wmh", "healthy"]


@dataclass(frozen=True)
class SubjectParameters:
    """Everything random about one subject and its imaging session."""

    kind: SubjectKind
    field_strength_t: float
    whole_head: bool
    warp: WarpParameters
    head: HeadParameters
    glioma: GliomaParameters | None
    wmh: WmhParameters | None
    tissue_seed: int
    protocols: dict[str, SequenceProtocol]
    bias_strength: float
    snr: dict[str, float]
    noise_seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the parameters, stored beside each simulated subject."""
        return dataclasses.asdict(self)


@dataclass
class Subject:
    """Noise-free contrasts on the 1 mm template grid (RAS affine), with labels and brain mask."""

    params: SubjectParameters
    affine: np.ndarray
    clean: dict[str, np.ndarray]
    labels: np.ndarray
    brain_mask: np.ndarray
    tissue_map: np.ndarray

    def tissue(self, name: str) -> np.ndarray:
        """Voxels where `name` is the dominant tissue (tests and region metrics use it)."""
        return self.tissue_map == TISSUES.index(name) + 1


def sample_subject(
    rng: np.random.Generator,
    kind: SubjectKind = "glioma",
    whole_head: bool = False,
    field_strength_t: float | None = None,
    template: Template | None = None,
) -> SubjectParameters:
    """Draw one subject's anatomy, lesions, tissue parameters and site protocol."""
    template = template or load_template()
    field = field_strength_t if field_strength_t is not None else float(rng.choice([1.5, 3.0]))
    glioma = sample_glioma(rng, template.wm, template.envelope_distance_mm) if kind == "glioma" else None
    wmh = sample_wmh(rng, template.wm, template.csf, template.envelope_distance_mm) if kind == "wmh" else None
    return SubjectParameters(
        kind=kind,
        field_strength_t=field,
        whole_head=whole_head,
        warp=sample_warp(rng),
        head=sample_head(rng),
        glioma=glioma,
        wmh=wmh,
        tissue_seed=int(rng.integers(2**31)),
        protocols=sample_protocols(rng, field),
        bias_strength=float(rng.uniform(0.08, 0.2)),
        snr={c: float(rng.uniform(15, 45)) for c in CONTRASTS},
        noise_seed=int(rng.integers(2**31)),
    )


def _anatomy(template: Template, params: SubjectParameters) -> dict[str, np.ndarray]:
    """Deformed tissue fractions (brain, lesions, and head shells when asked for)."""
    shape = template.shape
    warp = warp_coordinates(shape, params.warp)
    coords = warp
    if params.glioma is not None:
        push = mass_effect_coordinates(
            shape, np.asarray(params.glioma.centre_voxel), params.glioma.radius_mm * params.glioma.mass_effect
        )
        coords = compose(warp, push)
    fractions = {
        name: resample(getattr(template, name), coords) for name in ("gm", "wm", "csf", "choroid", "brain_mask")
    }
    fractions["csf"] = fractions["csf"] - fractions["choroid"]
    if params.whole_head:
        envelope = resample(template.envelope_distance_mm, warp, cval=100.0)
        shells = head_fractions(envelope, template.world_coordinates(), params.head)
        brain = fractions["gm"] + fractions["wm"] + fractions["csf"] + fractions["choroid"]
        shells["extra_csf"] = shells["extra_csf"] * np.clip(1.0 - brain, 0.0, 1.0)
        fractions.update(shells)
    return fractions


def simulate_subject(params: SubjectParameters, template: Template | None = None) -> Subject:
    """Noise-free T1, T1ce, T2 and FLAIR of one subject, its lesion labels and its brain mask."""
    template = template or load_template()
    fractions = _anatomy(template, params)
    brain_mask = fractions.pop("brain_mask")
    texture = None
    labels = np.zeros(template.shape, dtype=np.uint8)
    if params.glioma is not None:
        labels, texture = paint_glioma(fractions, params.glioma)
    if params.wmh is not None:
        labels = paint_wmh(fractions, params.wmh)
    table = jittered_tissue_table(params.field_strength_t, np.random.default_rng(params.tissue_seed))
    fractions = {name: fractions[name] for name in TISSUES if name in fractions}
    clean = {
        contrast: render(fractions, table, params.protocols[contrast], params.field_strength_t, texture)
        for contrast in CONTRASTS
    }
    if not params.whole_head:
        clean = {c: v * brain_mask for c, v in clean.items()}
    stacked = np.stack([fractions.get(name, np.zeros(template.shape, np.float32)) for name in TISSUES])
    dominant = np.where(stacked.max(axis=0) > 0.5, stacked.argmax(axis=0) + 1, 0).astype(np.uint8)
    return Subject(
        params=params,
        tissue_map=dominant,
        affine=template.affine.copy(),
        clean=clean,
        labels=labels,
        brain_mask=(brain_mask > 0.5).astype(np.uint8),
    )


def acquire(subject: Subject, contrast: str, slice_axis: int = 2) -> np.ndarray:
    """The contrast as one acquisition on the 1 mm grid shows it: bias field, slice thickness, Rician noise.

    Thick 2D slices blur along `slice_axis` (axial: 2). The bias field is the
    session's (shared by contrasts); the noise is drawn per contrast.
    """
    params = subject.params
    protocol = params.protocols[contrast]
    seed = params.noise_seed + CONTRASTS.index(contrast)
    rng = np.random.default_rng(seed)
    volume = subject.clean[contrast] * bias_field(
        subject.clean[contrast].shape, np.random.default_rng(params.noise_seed), params.bias_strength
    )
    if not protocol.is_3d:
        volume = slice_blur(volume, protocol.slice_thickness_mm, axis=slice_axis)
    sigma = noise_sigma(volume, subject.brain_mask, params.snr[contrast])
    noisy = rician_noise(volume, sigma, rng)
    if not params.whole_head:
        noisy = noisy * subject.brain_mask
    return noisy
