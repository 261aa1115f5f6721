"""From tissue fractions to a contrast's image: per-tissue signal mixed by partial volume."""

from __future__ import annotations

import numpy as np

from simulation import signal
from simulation.protocols import SequenceProtocol
from simulation.tissues import TissueParameters

LESION_TISSUES = ("edema", "necrosis", "enhancing", "wmh")


def tissue_signal(
    tissue: TissueParameters, protocol: SequenceProtocol, field_strength_t: float, post_contrast: bool
) -> float:
    """Signal of one pure tissue under one protocol."""
    t1 = tissue.t1_ms
    if post_contrast and tissue.gadolinium_mM > 0:
        t1 = float(signal.post_contrast_t1(t1, tissue.gadolinium_mM, field_strength_t))
    if protocol.kind in ("se", "tse"):
        value = signal.spin_echo(tissue.pd, t1, tissue.t2_ms, protocol.tr_ms, protocol.te_ms)
        # Flowing blood leaves the slice between the two pulses: a flow void.
        return float(value * tissue.flow_void)
    if protocol.kind in ("flair2d", "flair3d"):
        value = signal.inversion_recovery(tissue.pd, t1, tissue.t2_ms, protocol.tr_ms, protocol.te_ms, protocol.ti_ms)
        return float(value * tissue.flow_void)
    value = signal.mprage(tissue.pd, t1, tissue.t2_ms, protocol.tr_ms, protocol.te_ms, protocol.ti_ms)
    # Gradient-echo MPRAGE keeps some inflow signal, so flow voids are partial.
    return float(value * (0.5 + 0.5 * tissue.flow_void))


def render(
    fractions: dict[str, np.ndarray],
    table: dict[str, TissueParameters],
    protocol: SequenceProtocol,
    field_strength_t: float,
    texture: np.ndarray | None = None,
) -> np.ndarray:
    """The noise-free image of one contrast: sum over tissues of fraction x signal.

    Lesion tissues carry a smooth multiplicative `texture` (8-12 %).
    """
    post_contrast = protocol.contrast == "t1ce"
    shape = next(iter(fractions.values())).shape
    image = np.zeros(shape, dtype=np.float32)
    lesion = np.zeros(shape, dtype=np.float32)
    for name, fraction in fractions.items():
        value = tissue_signal(table[name], protocol, field_strength_t, post_contrast)
        if value == 0.0:
            continue
        target = lesion if name in LESION_TISSUES else image
        target += np.float32(value) * fraction
    if texture is not None:
        lesion *= 1.0 + texture
    return image + lesion
