"""Finding cases in the folder layouts users hold: BraTS2020 and the MICCAI WMH challenge.

BraTS2020: `BraTS20_Training_001/BraTS20_Training_001_{t1,t1ce,t2,flair,seg}.nii(.gz)`;
WMH: `<site>/<id>/pre/{T1,FLAIR}.nii.gz` with `<site>/<id>/wmh.nii.gz`. The
simulator writes both layouts, so the same code reads simulated and real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from product.errors import ProductError

BRATS_CONTRASTS = ("t1", "t1ce", "t2", "flair")
WMH_FILES = {"t1": "T1.nii.gz", "flair": "FLAIR.nii.gz"}


class DataLayoutError(ProductError, ValueError):
    """A data folder that does not hold the layout asked for (names the folder and what is missing)."""


@dataclass(frozen=True)
class CaseFiles:
    """One subject: its image file per contrast and, when present, its label and brain-mask files."""

    case_id: str
    images: dict[str, Path]
    labels: Path | None = None
    brain_mask: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _nifti(folder: Path, stem: str) -> Path | None:
    for suffix in (".nii.gz", ".nii"):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def find_brats_cases(root: Path) -> list[CaseFiles]:
    """Every case folder under `root` holding the four BraTS contrasts (label optional, e.g. validation)."""
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root}: not a folder")
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = {c: _nifti(folder, f"{folder.name}_{c}") for c in BRATS_CONTRASTS}
        missing = [c for c, p in images.items() if p is None]
        if len(missing) == len(BRATS_CONTRASTS):
            continue
        if missing:
            raise DataLayoutError(f"{folder}: BraTS case lacks {missing} (expected {folder.name}_<contrast>.nii.gz)")
        cases.append(
            CaseFiles(
                folder.name,
                images,
                labels=_nifti(folder, f"{folder.name}_seg"),
                brain_mask=_nifti(folder, f"{folder.name}_brainmask"),
            )
        )
    if not cases:
        raise DataLayoutError(f"{root}: no BraTS case folders (<case>/<case>_t1.nii.gz ...)")
    return cases


def find_wmh_cases(root: Path) -> list[CaseFiles]:
    """Every `<site>/<id>/` under `root` holding `pre/T1.nii.gz` and `pre/FLAIR.nii.gz`."""
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root}: not a folder")
    cases = []
    for pre in sorted(root.glob("*/*/pre")):
        images = {c: pre / name for c, name in WMH_FILES.items()}
        missing = [str(p) for p in images.values() if not p.is_file()]
        if missing:
            raise DataLayoutError(f"{pre.parent}: WMH case lacks {missing}")
        labels = _nifti(pre.parent, "wmh")
        mask = _nifti(pre, "brainmask")
        cases.append(CaseFiles(f"{pre.parent.parent.name}_{pre.parent.name}", images, labels, mask))
    if not cases:
        raise DataLayoutError(f"{root}: no WMH cases (<site>/<id>/pre/T1.nii.gz ...)")
    return cases


def find_cases(root: Path, layout: str) -> list[CaseFiles]:
    """Cases of a named layout: "brats" or "wmh"."""
    finders = {"brats": find_brats_cases, "wmh": find_wmh_cases}
    if layout not in finders:
        raise DataLayoutError(f"layout {layout!r} unknown; expected one of {sorted(finders)}")
    return finders[layout](root)
