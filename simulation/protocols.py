"""Acquisition protocols: which sequence, with which timing, per contrast.

One protocol per simulated site (../shared/docs/simulation.md, "Scanner
style"). The DICOM study writer adds the vendor's names and geometry on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.signal import csf_null_inversion_time

SEQUENCE_KINDS = ("se", "mprage", "tse", "flair2d", "flair3d")


@dataclass(frozen=True)
class SequenceProtocol:
    """Timing and geometry of one contrast's acquisition (times in ms, lengths in mm)."""

    contrast: str
    kind: str
    tr_ms: float
    te_ms: float
    ti_ms: float | None
    flip_angle_deg: float
    is_3d: bool
    slice_thickness_mm: float
    echo_train_length: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SEQUENCE_KINDS:
            raise ValueError(f"sequence kind {self.kind!r} unknown; expected one of {SEQUENCE_KINDS}")


def sample_protocols(
    rng: np.random.Generator, field_strength_t: float, t1_csf_ms: float = 4300.0
) -> dict[str, SequenceProtocol]:
    """Draw one site's T1, T1ce, T2 and FLAIR protocols.

    T1 is a 3D MPRAGE at 3 T and, at 1.5 T, either an MPRAGE or a 2D spin echo;
    T1ce repeats the site's T1 after gadolinium. FLAIR is 2D, or 3D
    (SPACE/CUBE-like) with the shorter TI those use.
    """
    if field_strength_t == 3.0 or rng.random() < 0.5:
        t1 = SequenceProtocol(
            "t1",
            "mprage",
            tr_ms=float(rng.uniform(1900, 2300)),
            te_ms=float(rng.uniform(2.5, 3.5)),
            ti_ms=float(rng.uniform(850, 1100)),
            flip_angle_deg=float(rng.choice([8.0, 9.0])),
            is_3d=True,
            slice_thickness_mm=1.0,
        )
    else:
        t1 = SequenceProtocol(
            "t1",
            "se",
            tr_ms=float(rng.uniform(400, 650)),
            te_ms=float(rng.uniform(8, 15)),
            ti_ms=None,
            flip_angle_deg=90.0,
            is_3d=False,
            slice_thickness_mm=float(rng.choice([3.0, 5.0])),
        )
    t1ce = SequenceProtocol(**{**t1.__dict__, "contrast": "t1ce"})
    t2 = SequenceProtocol(
        "t2",
        "tse",
        tr_ms=float(rng.uniform(3000, 6000)),
        te_ms=float(rng.uniform(80, 120)),
        ti_ms=None,
        flip_angle_deg=90.0,
        is_3d=False,
        slice_thickness_mm=float(rng.choice([3.0, 4.0, 5.0])),
        echo_train_length=int(rng.choice([12, 15, 18])),
    )
    if rng.random() < 0.7:
        tr = float(rng.uniform(8000, 11000))
        ti = csf_null_inversion_time(t1_csf_ms, tr) * float(rng.uniform(0.95, 1.05))
        flair = SequenceProtocol(
            "flair",
            "flair2d",
            tr_ms=tr,
            te_ms=float(rng.uniform(100, 140)),
            ti_ms=ti,
            flip_angle_deg=150.0,
            is_3d=False,
            slice_thickness_mm=float(rng.choice([4.0, 5.0])),
            echo_train_length=int(rng.choice([16, 20])),
        )
    else:
        flair = SequenceProtocol(
            "flair",
            "flair3d",
            tr_ms=5000.0,
            te_ms=float(rng.uniform(120, 140)),  # CUBE-style effective TE
            ti_ms=float(rng.uniform(1650, 1800)),
            flip_angle_deg=120.0,
            is_3d=True,
            slice_thickness_mm=1.0,
            echo_train_length=int(rng.choice([160, 200])),
        )
    return {"t1": t1, "t1ce": t1ce, "t2": t2, "flair": flair}
