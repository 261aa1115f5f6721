"""Diffusion-weighted signal of a simulated subject: a tissue ADC map, b = 0 and b = 1000 images, the ADC map.

Approximate on purpose: the b = 0 image is the subject's noise-free T2
(EPI is T2-weighted at a similar TE) with fat-suppressed, dimmer tissue
outside the brain, and the tissue ADC is read off the T2 intensity between
white matter (0.7e-3 mm2/s) and CSF (3.0e-3 mm2/s), which places grey matter
near 0.8e-3; lesions take values from their labels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

WM_ADC, CSF_ADC = 0.7e-3, 3.0e-3
LESION_ADC: dict[str, dict[int, float]] = {
    # BraTS labels: 1 necrotic core (free water), 2 edema (vasogenic), 4 enhancing tumour (cellular).
    "glioma": {1: 2.2e-3, 2: 1.45e-3, 4: 0.95e-3},
    # WMH challenge label 1: gliotic, mildly raised diffusivity.
    "wmh": {1: 1.1e-3},
    "healthy": {},
}
OUTSIDE_BRAIN_ADC = 1.2e-3
OUTSIDE_BRAIN_WEIGHT = 0.25
"""Scalp, muscle and marrow in a fat-suppressed EPI: a fraction of their T2 signal."""


def tissue_adc(t2: np.ndarray, brain_mask: np.ndarray, labels: np.ndarray, kind: str) -> np.ndarray:
    """Apparent diffusion coefficient (mm2/s) per voxel from T2 contrast, lesion labels and the brain mask.

    Within the brain, t = (T2 - WM level) / (CSF level - WM level), clipped to
    [0, 1], maps to WM_ADC + (CSF_ADC - WM_ADC) t^2: the square keeps grey
    matter (a little brighter than white matter on T2) close to white matter.
    """
    inside = (brain_mask > 0) & (labels == 0)
    wm_level, csf_level = np.percentile(t2[inside], [20, 99.5])
    t = np.clip((t2 - wm_level) / max(csf_level - wm_level, 1e-6), 0.0, 1.0)
    adc = WM_ADC + (CSF_ADC - WM_ADC) * t**2
    for label, value in LESION_ADC[kind].items():
        adc[labels == label] = value
    weight = brain_weight(brain_mask)
    return (weight * adc + (1.0 - weight) * OUTSIDE_BRAIN_ADC).astype(np.float32)


def brain_weight(brain_mask: np.ndarray) -> np.ndarray:
    """The brain mask with a soft 1-2 mm edge."""
    return np.clip(ndimage.gaussian_filter(brain_mask.astype(np.float32), 1.0), 0.0, 1.0)


def dwi_sources(
    t2: np.ndarray, brain_mask: np.ndarray, labels: np.ndarray, kind: str, b_values: tuple[int, ...]
) -> dict[int, np.ndarray]:
    """Noise-free trace-weighted images S(b) = S0 exp(-b ADC) on the subject's grid, per b-value (s/mm2)."""
    weight = brain_weight(brain_mask)
    s0 = t2 * (weight + OUTSIDE_BRAIN_WEIGHT * (1.0 - weight))
    adc = tissue_adc(t2, brain_mask, labels, kind)
    return {b: (s0 * np.exp(-b * adc)).astype(np.float32) for b in b_values}


def adc_from_dwi(low: np.ndarray, high: np.ndarray, b_value: float, floor: float) -> np.ndarray:
    """The ADC (mm2/s) a scanner computes from two trace images: ln(S0 / Sb) / b where S0 exceeds `floor`.

    Below the floor (air, bone) the map is 0, as scanners' noise thresholds make it.
    """
    valid = low > floor
    ratio = np.where(valid, low, 1.0) / np.maximum(np.where(valid, high, 1.0), 1e-6)
    adc = np.log(np.maximum(ratio, 1.0)) / b_value
    return np.where(valid, np.clip(adc, 0.0, 4.0e-3), 0.0).astype(np.float32)
