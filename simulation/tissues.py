"""Relaxation parameters of the tissues the simulator mixes, per field strength.

Values follow ../shared/docs/simulation.md (Stanisz 2005, Wansapura 1999,
BrainWeb); lesion values are the assumptions listed there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class TissueParameters:
    """Proton density (relative) and relaxation times (ms) of one tissue.

    `flow_void` scales the signal of flowing blood on spin-echo sequences;
    `gadolinium_mM` is the concentration after contrast injection.
    """

    pd: float
    t1_ms: float
    t2_ms: float
    gadolinium_mM: float = 0.0
    flow_void: float = 1.0


# Tissue order matters only for the label map; the names are the keys of the
# fraction maps that anatomy, head and lesion modules produce.
TISSUES: tuple[str, ...] = (
    "wm",
    "gm",
    "csf",
    "extra_csf",
    "bone",
    "marrow",
    "fat",
    "muscle",
    "skin",
    "vessel",
    "choroid",
    "edema",
    "necrosis",
    "enhancing",
    "wmh",
)

_BASE: dict[float, dict[str, TissueParameters]] = {
    1.5: {
        "wm": TissueParameters(0.70, 780, 72),  # between BrainWeb (500) and Stanisz (884)
        "gm": TissueParameters(0.82, 1200, 95),
        "csf": TissueParameters(0.98, 4300, 1800),
        "extra_csf": TissueParameters(0.98, 4300, 1800),
        "bone": TissueParameters(0.05, 500, 1),
        "marrow": TissueParameters(0.90, 370, 80),
        "fat": TissueParameters(1.00, 350, 70),
        "muscle": TissueParameters(0.70, 1000, 45),
        "skin": TissueParameters(0.75, 800, 40),
        "vessel": TissueParameters(0.85, 1350, 180, gadolinium_mM=1.2, flow_void=0.15),
        "choroid": TissueParameters(0.90, 1200, 110, gadolinium_mM=0.4),
        "edema": TissueParameters(0.90, 1450, 200, gadolinium_mM=0.01),
        "necrosis": TissueParameters(0.95, 3000, 350),
        "enhancing": TissueParameters(0.86, 1350, 125, gadolinium_mM=0.2),
        "wmh": TissueParameters(0.82, 1200, 140),
    },
    3.0: {
        "wm": TissueParameters(0.70, 1084, 69),
        "gm": TissueParameters(0.82, 1820, 99),
        "csf": TissueParameters(0.98, 4300, 1800),
        "extra_csf": TissueParameters(0.98, 4300, 1800),
        "bone": TissueParameters(0.05, 600, 1),
        "marrow": TissueParameters(0.90, 380, 75),
        "fat": TissueParameters(1.00, 380, 65),
        "muscle": TissueParameters(0.70, 1400, 40),
        "skin": TissueParameters(0.75, 1000, 35),
        "vessel": TissueParameters(0.85, 1650, 150, gadolinium_mM=1.2, flow_void=0.15),
        "choroid": TissueParameters(0.90, 1500, 100, gadolinium_mM=0.4),
        "edema": TissueParameters(0.90, 1800, 190, gadolinium_mM=0.01),
        "necrosis": TissueParameters(0.95, 3200, 330),
        "enhancing": TissueParameters(0.86, 1650, 120, gadolinium_mM=0.2),
        "wmh": TissueParameters(0.82, 1500, 135),
    },
}

# Gadobutrol longitudinal relaxivity in plasma, L/(mmol s) (Szomolanyi 2019).
GADOLINIUM_R1: dict[float, float] = {1.5: 4.78, 3.0: 4.97}


def base_tissue_table(field_strength_t: float) -> dict[str, TissueParameters]:
    """The literature table for 1.5 T or 3 T."""
    if field_strength_t not in _BASE:
        raise ValueError(f"field strength {field_strength_t} T not simulated; use one of {sorted(_BASE)}")
    return dict(_BASE[field_strength_t])


def jittered_tissue_table(
    field_strength_t: float, rng: np.random.Generator, relative_sd: float = 0.04
) -> dict[str, TissueParameters]:
    """Per-subject tissue parameters: each PD/T1/T2 moved by a few percent.

    Enhancing-tumour gadolinium is drawn from the 0.1-0.35 mM range that the
    measured pre/post T1 change in glioblastoma implies.
    """
    table = {}
    for name, p in base_tissue_table(field_strength_t).items():
        factors = np.clip(1.0 + relative_sd * rng.standard_normal(3), 0.85, 1.15)
        table[name] = replace(p, pd=min(1.0, p.pd * factors[0]), t1_ms=p.t1_ms * factors[1], t2_ms=p.t2_ms * factors[2])
    table["enhancing"] = replace(table["enhancing"], gadolinium_mM=float(rng.uniform(0.1, 0.35)))
    table["edema"] = replace(
        table["edema"], t1_ms=table["wm"].t1_ms * rng.uniform(1.4, 1.9), t2_ms=float(rng.uniform(150, 250))
    )
    return table
