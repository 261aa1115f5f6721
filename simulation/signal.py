"""MR signal equations of the four clinical contrasts.

All functions are elementwise in numpy, so a tissue's signal may be a scalar or
a voxel map (lesion texture). Equations from ../shared/docs/simulation.md.
"""

from __future__ import annotations

import numpy as np

from simulation.tissues import GADOLINIUM_R1


def spin_echo(pd, t1_ms, t2_ms, tr_ms: float, te_ms: float):
    """Spin echo / turbo spin echo: PD (1 - e^{-TR/T1}) e^{-TE/T2}."""
    return pd * (1.0 - np.exp(-tr_ms / t1_ms)) * np.exp(-te_ms / t2_ms)


def inversion_recovery(pd, t1_ms, t2_ms, tr_ms: float, te_ms: float, ti_ms: float):
    """Magnitude inversion-recovery spin echo (FLAIR): |1 - 2e^{-TI/T1} + e^{-TR/T1}| e^{-TE/T2}."""
    return pd * np.abs(1.0 - 2.0 * np.exp(-ti_ms / t1_ms) + np.exp(-tr_ms / t1_ms)) * np.exp(-te_ms / t2_ms)


def mprage(pd, t1_ms, t2_ms, tr_ms: float, te_ms: float, ti_ms: float):
    """Crude MPRAGE: the phase-sensitive inversion recovery, negative signal clipped to zero."""
    return pd * np.maximum(0.0, 1.0 - 2.0 * np.exp(-ti_ms / t1_ms) + np.exp(-tr_ms / t1_ms)) * np.exp(-te_ms / t2_ms)


def csf_null_inversion_time(t1_csf_ms: float, tr_ms: float) -> float:
    """The TI that nulls CSF: T1 ln(2 / (1 + e^{-TR/T1}))."""
    return float(t1_csf_ms * np.log(2.0 / (1.0 + np.exp(-tr_ms / t1_csf_ms))))


def post_contrast_t1(t1_ms, gadolinium_mM, field_strength_t: float):
    """T1 after gadolinium: 1/T1' = 1/T1 + r1 [Gd] (r1 in L/(mmol s), so ms need 1e-3)."""
    r1_per_ms = GADOLINIUM_R1[field_strength_t] * 1e-3
    return 1.0 / (1.0 / t1_ms + r1_per_ms * gadolinium_mM)
