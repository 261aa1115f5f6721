"""Shared builders of the DICOM study tests: one simulated subject per session, studies written from it,
the CLI run in the background, and a reader of DICOM slice geometry independent of the writer's code.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from simulation.artifacts import bias_field
from simulation.dicom_study import StudyManifest, write_study
from simulation.protocols import SequenceProtocol
from simulation.subject import Subject, sample_subject, simulate_subject

REPO = Path(__file__).resolve().parents[2]
STUDY_SEED = 3
CLI_RUNS = {"seed3_ge": (3, "ge", "t1,t2,flair"), "seed4_ge": (4, "ge", "t2")}
"""CLI studies run in the background while the session subject is simulated here (the machines have 2 cores)."""


@pytest.fixture(scope="session")
def cli_runs(tmp_path_factory) -> dict[str, tuple[subprocess.Popen, Path]]:
    """`python -m simulation study ...` processes, started now, awaited by the tests that read their output."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = {}
    for name, (seed, vendor, contrasts) in CLI_RUNS.items():
        out = tmp_path_factory.mktemp(f"cli_{name}") / "study"
        command = [sys.executable, "-m", "simulation", "study", "--out", str(out), "--seed", str(seed)]
        command += ["--vendor", vendor, "--contrasts", contrasts]
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        runs[name] = (process, out)
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def study_subject(cli_runs) -> Subject:
    """The seed-3 whole-head glioma subject, the one `--seed 3` simulates (3 T: MPRAGE T1, 3D FLAIR)."""
    return simulate_subject(sample_subject(np.random.default_rng(STUDY_SEED), kind="glioma", whole_head=True))


@pytest.fixture(scope="session")
def subject_2d(study_subject) -> Subject:
    """The same anatomy under a 1.5 T site's 2D protocols: spin-echo T1 (5 mm) and 2D FLAIR.

    Only names, geometry and timing follow the protocols; the pixels stay the
    3 T renders, which is all the series-layout tests need.
    """
    se = SequenceProtocol("t1", "se", 550.0, 12.0, None, 90.0, False, 5.0)
    flair = SequenceProtocol("flair", "flair2d", 9000.0, 120.0, 2480.0, 150.0, False, 4.0, 16)
    protocols = {**study_subject.params.protocols, "t1": se, "t1ce": dataclasses.replace(se, contrast="t1ce")}
    params = dataclasses.replace(study_subject.params, protocols={**protocols, "flair": flair}, field_strength_t=1.5)
    return dataclasses.replace(study_subject, params=params)


@pytest.fixture(scope="session")
def write_session_study(tmp_path_factory, study_subject, subject_2d) -> Callable[..., StudyManifest]:
    """write(vendor, contrasts, two_d=False, **kwargs): a study of the session subject, written once and cached."""
    cache: dict[tuple, StudyManifest] = {}

    def write(vendor: str, contrasts: tuple[str, ...] = ("t1", "t1ce", "t2", "flair"), two_d: bool = False, **kwargs):
        key = (vendor, tuple(contrasts), two_d, tuple(sorted(kwargs.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{vendor}{'_2d' if two_d else ''}") / "study"
            subject = subject_2d if two_d else study_subject
            cache[key] = write_study(
                out, STUDY_SEED, vendor, list(contrasts), True, "glioma", subject=subject, **kwargs
            )
        return cache[key]

    return write


@pytest.fixture(scope="session")
def siemens_study(write_session_study) -> StudyManifest:
    """All four contrasts, Siemens naming, 3 T protocols (3D T1/T1ce/FLAIR, 2D T2)."""
    return write_session_study("siemens")


@pytest.fixture(scope="session")
def ge_2d_study(write_session_study) -> StudyManifest:
    """All four contrasts, GE naming, 1.5 T 2D protocols (SE T1/T1ce, TSE T2, 2D FLAIR)."""
    return write_session_study("ge", two_d=True)


@functools.lru_cache(maxsize=64)
def _read_series_cached(folder: Path) -> tuple[pydicom.Dataset, ...]:
    return tuple(pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm")))


def read_series(folder: Path) -> list[pydicom.Dataset]:
    """Every file of a series folder, read back with pydicom (read once per session; do not modify them)."""
    return list(_read_series_cached(Path(folder).resolve()))


@dataclasses.dataclass
class ReadVolume:
    """A series rebuilt from its Image Plane attributes alone.

    `voxels` is (slice, row, column), slices sorted along the normal;
    `affine` maps (column, row, slice) indices to LPS mm.
    """

    voxels: np.ndarray
    affine: np.ndarray
    thickness_mm: float


def read_volume(folder: Path) -> ReadVolume:
    """Stack a single-orientation series by ImagePositionPatient projected on the ImageOrientationPatient normal."""
    datasets = read_series(folder)
    orientation = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    row, column = orientation[:3], orientation[3:]
    normal = np.cross(row, column)
    datasets.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), normal)))
    positions = np.array([ds.ImagePositionPatient for ds in datasets], dtype=float)
    between_rows, between_columns = (float(v) for v in datasets[0].PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = row * between_columns
    affine[:3, 1] = column * between_rows
    affine[:3, 2] = (positions[-1] - positions[0]) / max(len(positions) - 1, 1)
    affine[:3, 3] = positions[0]
    voxels = np.stack([ds.pixel_array.astype(np.float32) for ds in datasets])
    return ReadVolume(voxels, affine, float(datasets[0].SliceThickness))


def resample_to(
    volume_ras: np.ndarray, ras_affine: np.ndarray, target: ReadVolume, step: int = 1, thickness_samples: int = 7
) -> np.ndarray:
    """A 1 mm RAS volume seen on `target`'s grid (every `step`-th voxel), averaged across the slice thickness.

    Returns an array shaped like `target.voxels[::step, ::step, ::step]`.
    """
    shape = target.voxels[::step, ::step, ::step].shape
    k, r, c = np.meshgrid(*(np.arange(n, dtype=float) * step for n in shape), indexing="ij")
    index = np.stack([c.ravel(), r.ravel(), k.ravel(), np.ones(c.size)])
    lps = target.affine @ index
    normal = np.cross(target.affine[:3, 0], target.affine[:3, 1])
    normal /= np.linalg.norm(normal)
    to_voxel = np.linalg.inv(ras_affine) @ np.diag([-1.0, -1.0, 1.0, 1.0])
    fractions = (np.arange(thickness_samples) + 0.5) / thickness_samples - 0.5 if target.thickness_mm > 1.5 else [0.0]
    total = np.zeros(c.size)
    for fraction in fractions:
        points = lps.copy()
        points[:3] += fraction * target.thickness_mm * normal[:, None]
        total += ndimage.map_coordinates(volume_ras, (to_voxel @ points)[:3], order=1, cval=0.0)
    return (total / len(fractions)).reshape(shape)


def session_bias(subject: Subject) -> np.ndarray:
    """The session's receive bias field on the 1 mm grid, as `simulation.subject.acquire` draws it."""
    params = subject.params
    return bias_field(subject.clean["t1"].shape, np.random.default_rng(params.noise_seed), params.bias_strength)


@pytest.fixture(scope="session")
def reader() -> SimpleNamespace:
    """This file's reading helpers for the test modules (conftest modules are not importable by name)."""
    return SimpleNamespace(
        read_series=read_series, read_volume=read_volume, resample_to=resample_to, session_bias=session_bias
    )
