"""Classifier examples from simulated DICOM studies: every vendor's acquisition geometry, read as the node reads it.

The classifier meets a series after it went through a scanner's geometry (2D
thick slices or 3D, axial, sagittal or coronal, each vendor's protocols) and
the node's own volume reader. Training only on the synthesis grid left it
unsure of a 3D T1 and blind to a 3D sagittal FLAIR, so examples are made the
node's way: `simulation.dicom_study.write_study` writes the study, and each
contrast series goes through `operators.volume.dicom_volume.series_volume` and the
classifier's preprocessing. Each example keeps its geometry ("siemens 3D
sagittal, whole head"), so that accuracy is reported per geometry.

    python -m models.classifier_studies --seeds 100-123 --out runs/classifier/studies-train.npz
    python -m models.classifier_studies --seeds 2000-2003,2023 --others --out runs/classifier/test-others.npz

`--others` makes, instead, the "other" series of each subject (the DWI trace at b = 1000 and the ADC map,
`models.classifier_input.other_volumes`), whole head and skull-stripped, on the subject's own 1 mm grid.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

from models.classifier_input import CLASSES, CONTRASTS, OTHER, other_volumes, volume_slices
from models.config import DataConfig

logger = logging.getLogger(__name__)

VENDORS = ("siemens", "ge", "philips", "canon")
PLANES = {0: "sagittal", 1: "coronal", 2: "axial"}


def plane_of(orientation: tuple[float, ...] | list[float]) -> str:
    """Sagittal, coronal or axial: the patient axis the slice normal is closest to."""
    normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    return PLANES[int(np.argmax(np.abs(normal)))]


def study_examples(study: Path, manifest, data: DataConfig) -> list[tuple[np.ndarray, int, str]]:
    """(slices, label, geometry such as "3D sagittal") of each contrast series of one written study."""
    from operators.volume.dicom_volume import series_volume

    examples = []
    for label, contrast in enumerate(CONTRASTS):
        record = manifest.by_contrast(contrast)
        datasets = [pydicom.dcmread(p) for p in sorted((study / record.folder).glob("*.dcm"))]
        volume = series_volume(datasets)
        first = datasets[0]
        geometry = f"{first.get('MRAcquisitionType', '?')} {plane_of(first.ImageOrientationPatient)}"
        examples.append((volume_slices(volume.array, volume.affine_ras, data), label, geometry))
    return examples


def build(seeds: list[int], data: DataConfig, scratch: Path) -> dict[str, np.ndarray]:
    """Examples of every seed, each as a whole-head and a skull-stripped subject, through every vendor."""
    from simulation.dicom_study import write_study
    from simulation.subject import sample_subject, simulate_subject

    slices, labels, volumes, geometries, vendors, heads = [], [], [], [], [], []
    start = time.perf_counter()
    for n, seed in enumerate(seeds):
        for whole_head in (True, False):
            subject = simulate_subject(sample_subject(np.random.default_rng(seed), "glioma", whole_head))
            for vendor in VENDORS:
                study = scratch / f"{seed}-{vendor}-{whole_head}"
                manifest = write_study(
                    study, seed, vendor, list(CONTRASTS), whole_head, subject=subject, extra_series=False
                )
                for x, label, geometry in study_examples(study, manifest, data):
                    slices.append(x)
                    labels.append(np.full(len(x), label))
                    volumes.append(np.full(len(x), len(geometries)))
                    geometries.append(geometry)
                    vendors.append(vendor)
                    heads.append("whole head" if whole_head else "skull-stripped")
                shutil.rmtree(study)
        elapsed = time.perf_counter() - start
        logger.info(
            "seed %d done (%d of %d), %.0f s, about %.0f s left",
            seed,
            n + 1,
            len(seeds),
            elapsed,
            elapsed / (n + 1) * (len(seeds) - n - 1),
        )
    return {
        "slices": np.concatenate(slices).astype(np.float16),
        "labels": np.concatenate(labels).astype(np.int64),
        "volumes": np.concatenate(volumes).astype(np.int64),
        "geometries": np.asarray(geometries),
        "vendors": np.asarray(vendors),
        "heads": np.asarray(heads),
    }


def build_others(seeds: list[int], data: DataConfig) -> dict[str, np.ndarray]:
    """ "Other" examples (label 4) of every seed, whole head and skull-stripped; geometry names the series."""
    from simulation.subject import sample_subject, simulate_subject

    slices, volumes, geometries, heads = [], [], [], []
    for seed in seeds:
        for whole_head in (True, False):
            subject = simulate_subject(sample_subject(np.random.default_rng(seed), "glioma", whole_head))
            made = other_volumes(subject.clean["t2"], subject.brain_mask, subject.labels)
            for name, volume in made.items():
                x = volume_slices(volume, subject.affine, data)
                slices.append(x)
                volumes.append(np.full(len(x), len(geometries)))
                geometries.append(name)
                heads.append("whole head" if whole_head else "skull-stripped")
        logger.info("seed %d: other series made", seed)
    return {
        "slices": np.concatenate(slices).astype(np.float16),
        "labels": np.full(sum(len(x) for x in slices), CLASSES.index(OTHER), dtype=np.int64),
        "volumes": np.concatenate(volumes).astype(np.int64),
        "geometries": np.asarray(geometries),
        "vendors": np.asarray(["none"] * len(geometries)),
        "heads": np.asarray(heads),
    }


def load_examples(paths: list[Path]) -> dict[str, np.ndarray]:
    """The examples of several `build` outputs as one set (volume indices renumbered)."""
    parts = [dict(np.load(path)) for path in paths]
    offsets = np.cumsum([0] + [len(p["geometries"]) for p in parts[:-1]])
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0] if key != "volumes"}
    merged["volumes"] = np.concatenate([p["volumes"] + offset for p, offset in zip(parts, offsets)])
    return merged


def parse_seeds(text: str) -> list[int]:
    """ "100-103,200" -> [100, 101, 102, 103, 200]."""
    seeds = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.classifier_studies", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", required=True, help="subject seeds, e.g. 100-123 (not the synthesis test subjects)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help=".npz: slices, labels, volumes and per volume its geometries, vendors, heads",
    )
    parser.add_argument("--others", action="store_true", help="make the subjects' other series (DWI, ADC) instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.others:
        arrays = build_others(parse_seeds(args.seeds), DataConfig())
    else:
        with tempfile.TemporaryDirectory(prefix="classifier-studies-") as scratch:
            arrays = build(parse_seeds(args.seeds), DataConfig(), Path(scratch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    logger.info("%d volumes, %d slices -> %s", len(arrays["geometries"]), len(arrays["labels"]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
