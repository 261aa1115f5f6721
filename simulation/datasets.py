"""Simulated data sets in the layouts real users hold: BraTS2020 and the MICCAI WMH challenge.

Writing the real layouts means the model's loaders are tested on exactly the
files a user will point them at.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from simulation import CONTRASTS
from simulation.subject import Subject, acquire, sample_subject, simulate_subject

logger = logging.getLogger(__name__)

BRATS_SHAPE = (240, 240, 155)
WMH_FILES = {"t1": "T1.nii.gz", "flair": "FLAIR.nii.gz"}


def subject_seeds(seed: int, count: int) -> list[int]:
    """Independent per-subject seeds, so subject i is the same whatever `count` is."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(count)]


def crop_to_brats_canvas(volume: np.ndarray, brain_mask: np.ndarray, affine: np.ndarray):
    """Centre the brain's bounding box in a 240x240x155 canvas (1 mm), keeping the affine right."""
    nonzero = np.argwhere(brain_mask > 0)
    centre = (nonzero.min(axis=0) + nonzero.max(axis=0)) // 2
    start = centre - np.asarray(BRATS_SHAPE) // 2
    out = np.zeros(BRATS_SHAPE, dtype=volume.dtype)
    src = [slice(max(s, 0), min(s + n, d)) for s, n, d in zip(start, BRATS_SHAPE, volume.shape)]
    dst = [slice(a.start - s, a.stop - s) for a, s in zip(src, start)]
    out[tuple(dst)] = volume[tuple(src)]
    shifted = affine.copy()
    shifted[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
    return out, shifted


def _to_int16(volume: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.round(volume * gain), 0, 32767).astype(np.int16)


def _save(volume: np.ndarray, affine: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, affine), str(path))


def _simulate(seed: int, kind: str, whole_head: bool) -> Subject:
    rng = np.random.default_rng(seed)
    return simulate_subject(sample_subject(rng, kind=kind, whole_head=whole_head))


def write_brats_case(out: Path, case: str, seed: int, kind: str = "glioma", whole_head: bool = False) -> Path:
    """One case folder: `<case>_{t1,t1ce,t2,flair,seg}.nii.gz` plus the parameters drawn."""
    subject = _simulate(seed, kind, whole_head)
    folder = out / case
    gain = float(np.random.default_rng(seed).uniform(800, 3000))

    # Skull-stripped cases sit in BraTS's 240x240x155 canvas; whole heads keep the full 1 mm grid,
    # which the canvas would cut.
    def place(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if whole_head:
            return volume, subject.affine
        return crop_to_brats_canvas(volume, subject.brain_mask, subject.affine)

    for contrast in CONTRASTS:
        image, affine = place(acquire(subject, contrast))
        _save(_to_int16(image, gain), affine, folder / f"{case}_{contrast}.nii.gz")
    labels, affine = place(subject.labels)
    _save(labels.astype(np.uint8), affine, folder / f"{case}_seg.nii.gz")
    mask, affine = place(subject.brain_mask)
    _save(mask.astype(np.uint8), affine, folder / f"{case}_brainmask.nii.gz")
    (folder / "simulation.json").write_text(json.dumps({"seed": seed, **subject.params.to_dict()}, indent=1))
    return folder


def write_wmh_case(out: Path, site: str, case_id: str, seed: int, whole_head: bool = False) -> Path:
    """One WMH-challenge case: `<site>/<id>/pre/{T1,FLAIR}.nii.gz` and `wmh.nii.gz` (1 = WMH)."""
    subject = _simulate(seed, "wmh", whole_head)
    folder = out / site / case_id
    gain = float(np.random.default_rng(seed).uniform(800, 3000))
    for contrast, name in WMH_FILES.items():
        _save(_to_int16(acquire(subject, contrast), gain), subject.affine, folder / "pre" / name)
    _save(subject.labels.astype(np.uint8), subject.affine, folder / "wmh.nii.gz")
    _save(subject.brain_mask.astype(np.uint8), subject.affine, folder / "pre" / "brainmask.nii.gz")
    (folder / "simulation.json").write_text(json.dumps({"seed": seed, **subject.params.to_dict()}, indent=1))
    return folder


def _brats_job(args: tuple) -> str:
    out, case, seed, kind, whole_head = args
    return str(write_brats_case(out, case, seed, kind, whole_head))


def _wmh_job(args: tuple) -> str:
    out, site, case_id, seed, whole_head = args
    return str(write_wmh_case(out, site, case_id, seed, whole_head))


def _healthy_share(index: int) -> str:
    """Every fifth BraTS-layout subject is healthy, so the model also sees brains without tumour."""
    return "healthy" if index % 5 == 4 else "glioma"


def write_brats_dataset(
    out: Path, subjects: int, seed: int, whole_head: bool = False, workers: int = 2, only: set[str] | None = None
) -> list[str]:
    """`subjects` BraTS-layout cases `SimBraTS_<i>`; gliomas, with one in five healthy.

    `only` writes just those cases, identical to the same cases of the whole set (a benchmark regenerates a
    model's held-out subjects without the rest).
    """
    jobs = [
        (out, f"SimBraTS_{i:03d}", s, _healthy_share(i), whole_head)
        for i, s in enumerate(subject_seeds(seed, subjects))
        if only is None or f"SimBraTS_{i:03d}" in only
    ]
    return _run(_brats_job, jobs, workers)


def write_wmh_dataset(out: Path, subjects: int, seed: int, whole_head: bool = False, workers: int = 2) -> list[str]:
    """`subjects` WMH-layout cases spread over three simulated sites."""
    sites = ("SimUtrecht", "SimSingapore", "SimAmsterdam")
    jobs = [(out, sites[i % 3], f"{i:03d}", s, whole_head) for i, s in enumerate(subject_seeds(seed, subjects))]
    return _run(_wmh_job, jobs, workers)


def _run(job, jobs: list[tuple], workers: int) -> list[str]:
    if workers <= 1:
        return [job(j) for j in jobs]
    # Spawned, not forked: a fork of a process whose torch/OpenMP threads already ran can deadlock.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = []
        for path in pool.map(job, jobs):
            logger.info("wrote %s", path)
            done.append(path)
        return done
