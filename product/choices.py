"""The choices a run offers, named once: the run's options (app.study_run) check them, the operators act on them."""

from __future__ import annotations

SOP_CLASSES = ("sc", "mr")
"""Secondary Capture Image Storage, or derived MR Image Storage for tools that need MR."""

OUTPUT_GRIDS = ("reference", "isotropic")
"""Slice for slice on the reference series, or the model's 1 mm isotropic axial grid."""

CONTRAST_COUNT = 4
"""T1, T1ce, T2 and FLAIR."""

DEFAULT_MIN_PRESENT = 2
"""Fewest contrasts present to synthesize the others."""
