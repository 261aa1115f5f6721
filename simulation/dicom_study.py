"""A simulated MR brain study written as a scanner sends it to a PACS: one folder per series, plus a manifest.

    out/
      manifest.json                       what was written (StudyManifest)
      001_localizer/IM_0001.dcm ...       3-plane localizer
      002_t1_mprage_sag_p2_iso/...        one series per requested contrast
      ...                                 DWI (b0 + b1000 trace) and its ADC map

The same seed and arguments give byte-identical files: UIDs are name-based
UUIDs of the arguments (2.25 arc) and every random draw comes from generators
seeded by `seed`.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import shutil
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian

from simulation import CONTRASTS
from simulation.dicom_tags import ContrastBolus, StudyIdentity, deterministic_uid, image_dataset, series_header
from simulation.series_pixels import render_adc, render_series, session_volumes, to_stored, window
from simulation.study_plan import SeriesPlan, StudyPlan, plan_study
from simulation.subject import Subject, sample_subject, simulate_subject
from simulation.vendors import vendor_profile

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
KINDS = ("glioma", "wmh", "healthy")
CONTRAST_AGENTS = ("Gadovist", "gadobutrol", "Gadavist")
"""Gadobutrol (1.0 mmol/mL), the agent whose relaxivity the simulator's post-contrast T1 uses."""


@dataclass(frozen=True)
class AcquisitionGrid:
    """Voxel grid of one slice stack: 4x4 affine from (column, row, slice in instance order) to LPS mm."""

    affine: list[list[float]]
    shape: tuple[int, int, int]


@dataclass(frozen=True)
class SeriesRecord:
    """What the manifest records of one series; `folder` is relative to the study folder."""

    series_instance_uid: str
    series_number: int
    series_description: str
    role: str
    contrast: str | None
    files: int
    folder: str
    grids: tuple[AcquisitionGrid, ...]

    @property
    def affine(self) -> np.ndarray:
        """The acquisition grid's affine (LPS mm); the localizer's first plane."""
        return np.asarray(self.grids[0].affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, slices) of the acquisition grid."""
        return tuple(self.grids[0].shape)


@dataclass
class StudyManifest:
    """Record of a written study: the scanner simulated and every series with its UID, files and grid."""

    out: Path
    seed: int
    vendor: str
    manufacturer: str
    model: str
    field_strength_t: float
    kind: str
    whole_head: bool
    study_instance_uid: str
    frame_of_reference_uid: str
    patient_id: str
    series: list[SeriesRecord] = field(default_factory=list)

    def by_contrast(self, contrast: str) -> SeriesRecord:
        """The series of one contrast (t1, t1ce, t2, flair)."""
        for record in self.series:
            if record.contrast == contrast:
                return record
        raise KeyError(f"no {contrast} series in the study under {self.out}")

    def describe(self) -> str:
        """A short summary: scanner, study UID, then one line per series."""
        files = sum(r.files for r in self.series)
        lines = [
            f"Simulated MR study {self.patient_id} ({self.manufacturer} {self.model}, {self.field_strength_t:g} T, "
            f"{self.kind}): {len(self.series)} series, {files} files under {self.out}",
            f"StudyInstanceUID {self.study_instance_uid}",
            f"  {'#':>5}  {'series description':<34} {'contrast':<8} {'files':>5}  grid",
        ]
        for r in self.series:
            lines.append(
                f"  {r.series_number:>5}  {r.series_description[:34]:<34} {r.contrast or '-':<8} {r.files:>5}  "
                + _grid_text(r.grids)
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form; without `out`, so that a study folder can be moved (folders are relative to it)."""
        data = asdict(self)
        del data["out"]
        return data

    @classmethod
    def read(cls, path: Path) -> StudyManifest:
        """Load a manifest.json written by `write_study`; `out` is the folder holding it."""
        path = Path(path)
        data = json.loads(path.read_text())
        records = [
            SeriesRecord(**{**r, "grids": tuple(AcquisitionGrid(g["affine"], tuple(g["shape"])) for g in r["grids"])})
            for r in data.pop("series")
        ]
        return cls(out=path.parent, **data, series=records)


def _grid_text(grids: tuple[AcquisitionGrid, ...]) -> str:
    """e.g. "256x256x176 @ 1.00x1.00x1.00 mm sagittal"; several planes are counted."""
    affine = np.asarray(grids[0].affine)
    size = np.linalg.norm(affine[:3, :3], axis=0)
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    normal /= np.linalg.norm(normal)
    plane = ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(normal)))]
    plane += "" if np.abs(normal).max() > 0.9999 else " oblique"
    shape = "x".join(str(n) for n in grids[0].shape)
    text = f"{shape} @ {size[0]:.2f}x{size[1]:.2f}x{size[2]:.2f} mm {plane}"
    return f"{len(grids)} planes, {text} ..." if len(grids) > 1 else text


def _uid(key: str, *parts: object) -> str:
    """A deterministic UID (2.25 form) from the study key and the parts naming the object."""
    return deterministic_uid(key, *parts)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "series"


def _brain_box_lps(subject: Subject) -> np.ndarray:
    """(2, 3) lowest and highest LPS corner of the subject's brain mask, in mm."""
    index = np.argwhere(subject.brain_mask > 0)
    corners = np.array([index.min(axis=0), index.max(axis=0)], dtype=np.float64)
    ras = corners @ subject.affine[:3, :3].T + subject.affine[:3, 3]
    lps = ras * np.array([-1.0, -1.0, 1.0])
    return np.array([lps.min(axis=0), lps.max(axis=0)])


def _identity(rng: np.random.Generator, seed: int, key: str) -> StudyIdentity:
    """Synthetic patient and study identifiers; nothing here belongs to a real person."""
    study_date = datetime.date(2022, 1, 3) + datetime.timedelta(days=int(rng.integers(0, 1000)))
    birth = study_date - datetime.timedelta(days=int(rng.integers(25 * 365, 82 * 365)))
    age = study_date.year - birth.year - ((study_date.month, study_date.day) < (birth.month, birth.day))
    return StudyIdentity(
        patient_name=f"SIM^SUBJECT{seed}",
        patient_id=f"SIM{seed}",
        birth_date=birth,
        sex=str(rng.choice(["F", "M"])),
        age_years=int(age),
        weight_kg=float(rng.uniform(52, 98)),
        height_m=float(rng.uniform(1.55, 1.92)),
        study_uid=_uid(key, "study"),
        frame_of_reference_uid=_uid(key, "frame-of-reference"),
        study_date=study_date,
        accession_number=f"A{int(rng.integers(10**7, 10**8))}",
        study_id=str(int(rng.integers(1000, 99999))),
    )


def _prepare_output(out: Path) -> None:
    """Make `out`; clear a study written there before; refuse a folder holding anything else."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST_NAME
    if manifest.exists():
        for record in json.loads(manifest.read_text()).get("series", []):
            shutil.rmtree(out / record["folder"], ignore_errors=True)
        manifest.unlink()
    leftovers = sorted(p.name for p in out.iterdir())
    if leftovers:
        raise FileExistsError(f"{out} holds {leftovers[:5]} and no {MANIFEST_NAME} of a simulated study; not writing")


def _image_times(series: SeriesPlan, images: int) -> list[tuple[float, float]]:
    """(AcquisitionTime, ContentTime) per image: 2D slices interleaved over a TR, 3D at once, then reconstruction."""
    slices = len(series.stacks[0].positions)
    end = series.start_s + series.duration_s + 8.0
    if series.acquisition.is_3d:
        return [(series.start_s, end + 0.01 * i) for i in range(images)]
    interleave = [*range(0, slices, 2), *range(1, slices, 2)]
    step = min(series.acquisition.tr_ms / 1000.0, series.duration_s) / slices
    block = series.duration_s / max(images // slices, 1)
    times = []
    for i in range(images):
        group, position = divmod(i, slices)
        times.append((series.start_s + group * block + interleave.index(position) * step, end + 0.01 * i))
    return times


def _write_series(
    out: Path,
    key: str,
    identity: StudyIdentity,
    plan: StudyPlan,
    series: SeriesPlan,
    images: list[np.ndarray],
    contrast: ContrastBolus | None,
    transfer_syntax: str,
) -> SeriesRecord:
    """Write one series' files and return its manifest record."""
    series_uid = _uid(key, "series", series.role)
    folder = f"{series.number:03d}_{_safe(series.description)}"
    (out / folder).mkdir(parents=True, exist_ok=True)
    stored = to_stored(images, series.gain, plan.profile.bits_stored, scale_to_gain=series.role != "adc")
    header = series_header(identity, plan, series, series_uid, contrast)
    slot = [(stack, k) for stack in series.stacks for k in range(len(stack.positions))]
    per_b = len(slot)
    # Each b-value gets its own window, as scanners set it: b = 1000 is far darker than b = 0.
    windows = [window(stored[first : first + per_b]) for first in range(0, len(stored), per_b)]
    for i, (pixels, (acquired, content)) in enumerate(zip(stored, _image_times(series, len(stored)), strict=True)):
        stack, k = slot[i % per_b]
        b_value = series.b_values[i // per_b] if series.role == "dwi" else None
        uid = _uid(key, "image", series.role, i)
        ds = image_dataset(
            header, series, stack, k, pixels, i + 1, uid, acquired, content, windows[i // per_b], b_value
        )
        if transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, generate_instance_uid=False)  # lossless: the same instance
        ds.save_as(out / folder / f"IM_{i + 1:04d}.dcm", enforce_file_format=True)
    logger.info("series %s %r: %d files in %s", series_uid, series.description, len(stored), folder)
    grids = tuple(AcquisitionGrid(s.affine.round(6).tolist(), s.shape) for s in series.stacks)
    return SeriesRecord(
        series_uid, series.number, series.description, series.role, series.contrast, len(stored), folder, grids
    )


def _validated(contrasts: list[str], kind: str, whole_head: bool, subject: Subject | None) -> list[str]:
    """The contrasts lower-cased, de-duplicated in order; raise ValueError naming a bad argument."""
    chosen = list(dict.fromkeys(c.lower() for c in contrasts))
    if not chosen or set(chosen) - set(CONTRASTS):
        raise ValueError(f"contrasts {contrasts!r}: expected a non-empty subset of {CONTRASTS}")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {KINDS}")
    if subject is not None and (subject.params.kind, subject.params.whole_head) != (kind, whole_head):
        given = f"{subject.params.kind}/whole_head={subject.params.whole_head}"
        raise ValueError(f"subject is {given}, the study asks {kind}/whole_head={whole_head}")
    return chosen


def write_study(
    out: Path,
    seed: int,
    vendor: str,
    contrasts: list[str],
    whole_head: bool = True,
    kind: str = "glioma",
    extra_series: bool = True,
    subject: Subject | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> StudyManifest:
    """Simulate one subject and write its MR brain study as DICOM files under `out`.

    Args:
        out: study folder; created, or a previous simulated study there replaced.
        seed: determines the subject, the session and every UID.
        vendor: vendor profile key (siemens, ge, philips, canon).
        contrasts: contrast series to write, any of t1, t1ce, t2, flair.
        whole_head: keep skull and scalp (clinical); False writes brain-only images.
        kind: glioma, wmh or healthy.
        extra_series: also write the localizer, DWI and ADC series real studies carry.
        subject: an already simulated subject (as `simulate_subject(sample_subject(default_rng(seed), kind,
            whole_head))` gives) to skip the simulation; its kind and whole_head must match.
        transfer_syntax: Explicit VR Little Endian (scanners' default), or a lossless syntax pydicom encodes
            here: JPEG-LS Lossless (about 3x smaller) or RLE Lossless.

    Returns:
        The manifest, also written to `out/manifest.json`.
    """
    out = Path(out)
    contrasts = _validated(contrasts, kind, whole_head, subject)
    profile = vendor_profile(vendor)
    if subject is None:
        subject = simulate_subject(sample_subject(np.random.default_rng(seed), kind=kind, whole_head=whole_head))
    key = f"mri-synth-node:{seed}:{profile.key}:{kind}:{whole_head}:{'+'.join(contrasts)}:{extra_series}"
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, zlib.crc32(profile.key.encode())]))
    plan = plan_study(rng, profile, subject.params, contrasts, _brain_box_lps(subject), extra_series)
    identity = _identity(rng, seed, key)
    bolus = None
    if plan.injection_s is not None:
        volume = round(identity.weight_kg * 0.1 * 2) / 2  # 0.1 mmol/kg of a 1.0 mmol/mL agent
        bolus = ContrastBolus(str(rng.choice(CONTRAST_AGENTS)), volume, plan.injection_s)
    _prepare_output(out)
    manifest = StudyManifest(
        out=out,
        seed=seed,
        vendor=profile.key,
        manufacturer=plan.manufacturer,
        model=plan.model.name,
        field_strength_t=plan.model.field_strength_t,
        kind=kind,
        whole_head=whole_head,
        study_instance_uid=identity.study_uid,
        frame_of_reference_uid=identity.frame_of_reference_uid,
        patient_id=identity.patient_id,
    )
    volumes = session_volumes(subject)
    dwi_images: list[np.ndarray] = []
    for series in plan.series:
        if series.role == "adc":
            images = render_adc(dwi_images, next(s for s in plan.series if s.role == "dwi"), volumes)
        else:
            images = render_series(volumes, series, np.random.default_rng([subject.params.noise_seed, series.number]))
            dwi_images = images if series.role == "dwi" else dwi_images
        contrast = bolus if series.post_contrast else None
        manifest.series.append(_write_series(out, key, identity, plan, series, images, contrast, transfer_syntax))
    (out / MANIFEST_NAME).write_text(json.dumps(manifest.to_dict(), indent=1))
    logger.info("study %s: %d series under %s", identity.study_uid, len(manifest.series), out)
    return manifest
