"""Pixels of each planned series: the subject's noise-free 1 mm volumes seen through the series' acquisition.

For every series the clean volume, weighted by the session's bias field (one
receive field per session, fixed to the patient), is blurred to the voxel's
size (slice thickness, coarse pixels), sampled at the pixel centres and given
Rician noise at the series' SNR; `to_stored` then scales to the unsigned
integers a scanner stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.artifacts import bias_field, noise_sigma, rician_noise
from simulation.dicom_geometry import SliceStack, partial_volume, sample
from simulation.diffusion import adc_from_dwi, dwi_sources
from simulation.study_plan import SeriesPlan
from simulation.subject import Subject

ADC_SCALE = 1.0e6
"""Stored ADC units: 1e-6 mm2/s, as Siemens and GE write their ADC maps (GM about 800)."""


@dataclass(frozen=True)
class SessionVolumes:
    """The 1 mm RAS inputs every series of one session samples.

    `sources` holds the clean contrasts ("t1", ..., "flair") and the noise-free
    trace-weighted images ("b0", "b1000"), each already multiplied by the
    session's bias field: the coil's sensitivity weights the signal before a
    voxel integrates it. `brain_mean` (mean of each source inside the brain)
    sets the noise level for an SNR.
    """

    affine: np.ndarray
    sources: dict[str, np.ndarray]
    brain_mask: np.ndarray
    brain_mean: dict[str, float]
    whole_head: bool


def session_volumes(subject: Subject, b_values: tuple[int, ...] = (0, 1000)) -> SessionVolumes:
    """A subject's sources times its session bias field (drawn as `subject.acquire` draws it), with brain means."""
    params = subject.params
    clean = dict(subject.clean)
    for b, image in dwi_sources(subject.clean["t2"], subject.brain_mask, subject.labels, params.kind, b_values).items():
        clean[f"b{b}"] = image
    bias = bias_field(subject.clean["t1"].shape, np.random.default_rng(params.noise_seed), params.bias_strength)
    sources = {name: volume * bias for name, volume in clean.items()}
    mask = subject.brain_mask.astype(np.float32)
    means = {name: noise_sigma(volume, mask, 1.0) for name, volume in sources.items()}
    return SessionVolumes(subject.affine, sources, mask, means, params.whole_head)


def _acquire_stack(
    volumes: SessionVolumes, source: str, stack: SliceStack, snr: float, rng: np.random.Generator
) -> np.ndarray:
    """One stack of one source: partial volume, sampling, Rician noise at the series' SNR (brain-only when stripped)."""
    blurred = partial_volume(volumes.sources[source], stack)
    if volumes.whole_head:
        (signal,) = sample([blurred], ["constant"], volumes.affine, stack)
    else:
        signal, mask = sample([blurred, volumes.brain_mask], ["constant", "constant"], volumes.affine, stack)
    noisy = rician_noise(signal, volumes.brain_mean[source] / snr, rng)
    if not volumes.whole_head:
        noisy = noisy * (mask > 0.5)
    return noisy


def render_series(volumes: SessionVolumes, plan: SeriesPlan, rng: np.random.Generator) -> list[np.ndarray]:
    """Float images of one series, one (rows, columns) array per file, in InstanceNumber order.

    Contrast series sample their clean contrast, the localizer the T1, DWI its
    b-value images (all slices of b = 0, then of each higher b). The ADC map
    is not rendered here: see `render_adc`.
    """
    if plan.role == "adc":
        raise ValueError("render_series: the ADC map derives from the DWI images; call render_adc")
    if plan.role == "dwi":
        sigma = volumes.brain_mean["b0"] / plan.snr
        images = []
        for b in plan.b_values:
            # One noise level for every b-value: the receiver noise does not depend on diffusion weighting.
            snr = volumes.brain_mean[f"b{b}"] / sigma
            images.extend(_acquire_stack(volumes, f"b{b}", plan.stacks[0], snr, rng))
        return images
    source = plan.contrast or "t1"
    return [image for stack in plan.stacks for image in _acquire_stack(volumes, source, stack, plan.snr, rng)]


def render_adc(dwi_images: list[np.ndarray], dwi: SeriesPlan, volumes: SessionVolumes) -> list[np.ndarray]:
    """The scanner's ADC map from the DWI series' images, in stored units (1e-6 mm2/s)."""
    slices = len(dwi.stacks[0].positions)
    low = np.stack(dwi_images[:slices])
    high = np.stack(dwi_images[-slices:])
    sigma = volumes.brain_mean["b0"] / dwi.snr
    adc = adc_from_dwi(low, high, float(dwi.b_values[-1] - dwi.b_values[0]), floor=6.0 * sigma)
    return list(adc * ADC_SCALE)


def to_stored(images: list[np.ndarray], gain: float, bits_stored: int, scale_to_gain: bool = True) -> list[np.ndarray]:
    """Unsigned integer images: the series' maximum scaled to `gain` (the vendor's reconstruction scaling).

    Args:
        images: float images of one series.
        gain: stored value of the series' brightest pixel (e.g. 1000-4000).
        bits_stored: BitsStored; values are clipped to its range.
        scale_to_gain: False for quantitative maps already in stored units (ADC).
    """
    peak = max(float(image.max()) for image in images)
    factor = gain / peak if scale_to_gain and peak > 0 else 1.0
    top = 2**bits_stored - 1
    return [np.clip(np.rint(image * factor), 0, top).astype(np.uint16) for image in images]


def window(images: list[np.ndarray]) -> tuple[float, float]:
    """WindowCenter and WindowWidth covering the 1st to 99.5th percentile of the series' non-background pixels."""
    values = np.concatenate([image[image > 0].ravel() for image in images])
    if values.size == 0:
        return 1.0, 2.0
    low, high = np.percentile(values, [1.0, 99.5])
    width = max(float(high - low), 2.0)
    return round(float(low + high) / 2.0), round(width)
