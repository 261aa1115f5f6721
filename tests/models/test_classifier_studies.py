"""Classifier examples from simulated DICOM studies, read as the node reads them, with their geometry."""

from __future__ import annotations

import numpy as np

from models.classifier_studies import CONTRASTS, load_examples, plane_of, study_examples
from models.config import DataConfig


def test_planes_follow_the_slice_normal():
    assert plane_of([1, 0, 0, 0, 1, 0]) == "axial"
    assert plane_of([0, 1, 0, 0, 0, -1]) == "sagittal"
    assert plane_of([1, 0, 0, 0, 0, -1]) == "coronal"


def test_a_written_study_gives_one_labelled_example_per_contrast_and_sets_merge(tmp_path, simulated_subject):
    from pathlib import Path

    from models.contrast_classifier import ContrastClassifierModel, accuracy_per_geometry
    from simulation.dicom_study import write_study

    manifest = write_study(
        tmp_path / "study",
        seed=5,
        vendor="philips",
        contrasts=list(CONTRASTS),
        subject=simulated_subject,
        extra_series=False,
    )
    examples = study_examples(tmp_path / "study", manifest, DataConfig())
    assert [label for _, label, _ in examples] == [0, 1, 2, 3]
    for slices, _, geometry in examples:
        assert slices.ndim == 4 and slices.shape[1:] == (1, 64, 64) and len(slices) > 5
        assert geometry.split()[0] in ("2D", "3D") and geometry.split()[1] in ("axial", "sagittal", "coronal")
    arrays = {
        "slices": np.concatenate([x for x, _, _ in examples]).astype(np.float16),
        "labels": np.concatenate([np.full(len(x), label) for x, label, _ in examples]),
        "volumes": np.concatenate([np.full(len(x), i) for i, (x, _, _) in enumerate(examples)]),
        "geometries": np.asarray([g for _, _, g in examples]),
        "vendors": np.asarray(["philips"] * 4),
        "heads": np.asarray(["whole head"] * 4),
    }
    for name in ("a", "b"):
        np.savez(tmp_path / f"{name}.npz", **arrays)
    merged = load_examples([tmp_path / "a.npz", tmp_path / "b.npz"])
    assert len(merged["geometries"]) == 8 and sorted(set(merged["volumes"].tolist())) == list(range(8))
    model = ContrastClassifierModel.load(Path(__file__).resolve().parents[2] / "models" / "contrast-classifier")
    result = accuracy_per_geometry(model.network, merged)
    assert result["volumes"] == 8 and result["per_vendor"]["philips"]["volumes"] == 8
    assert sum(g["volumes"] for g in result["per_geometry"].values()) == 8
