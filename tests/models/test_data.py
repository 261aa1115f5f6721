"""Loaders for the layouts users hold, the shared preprocessing, and subject-level splits."""

import json

import nibabel as nib
import numpy as np
import pytest

from models.config import DataConfig
from models.data.layouts import DataLayoutError, find_brats_cases, find_wmh_cases
from models.data.preprocessing import to_model_grid
from models.data.resampling import resample_to_grid
from models.data.slices import load_case_on_grid
from models.data.splits import load_or_make_split, make_split


def test_brats_layout_is_read_with_labels(brats_folder):
    cases = find_brats_cases(brats_folder)
    assert [c.case_id for c in cases] == ["SimBraTS_000", "SimBraTS_001", "SimBraTS_002"]
    assert set(cases[0].images) == {"t1", "t1ce", "t2", "flair"} and cases[0].labels.name.endswith("_seg.nii.gz")
    assert nib.load(cases[0].images["t1"]).shape == (240, 240, 155)


def test_wmh_layout_is_read(wmh_folder):
    cases = find_wmh_cases(wmh_folder)
    assert len(cases) == 2 and set(cases[0].images) == {"t1", "flair"}
    assert cases[0].labels is not None and cases[0].labels.name == "wmh.nii.gz"


def test_a_brats_case_missing_a_contrast_is_named(brats_folder, tmp_path):
    case = tmp_path / "Case_1"
    case.mkdir()
    for contrast in ("t1", "t2", "flair"):
        (case / f"Case_1_{contrast}.nii.gz").write_bytes(
            (brats_folder / "SimBraTS_000" / "SimBraTS_000_t1.nii.gz").read_bytes()
        )
    with pytest.raises(DataLayoutError, match=r"Case_1.*t1ce"):
        find_brats_cases(tmp_path)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(DataLayoutError, match="no BraTS case"):
        find_brats_cases(tmp_path)


def test_model_grid_has_the_configured_size_spacing_and_range(brats_folder):
    config = DataConfig(image_size=96, spacing_mm=2.0)
    grid = load_case_on_grid(find_brats_cases(brats_folder)[0], config)
    assert grid.images.shape[:3] == (4, 96, 96)
    assert np.allclose(np.linalg.norm(grid.affine[:3, :3], axis=0), 2.0)
    assert grid.images.min() == -1.0 and grid.images.max() == 1.0
    assert set(np.unique(grid.labels)) <= {0, 1, 2, 4} and grid.labels.any()
    assert np.percentile(grid.images[:, ~grid.foreground], 99) < -0.8  # background is the bottom of the range


def test_model_grid_keeps_patient_space(brats_folder):
    """A volume sent to the model grid and back lands where it was (same millimetres)."""
    case = find_brats_cases(brats_folder)[0]
    image = nib.load(case.images["t2"])
    volume = np.asarray(image.dataobj, dtype=np.float32)
    grid = to_model_grid({"t2": volume}, image.affine, DataConfig(image_size=128, spacing_mm=1.5))
    back = resample_to_grid(grid.image("t2"), grid.affine, image.affine, volume.shape, cval=-1.0)
    inside = volume > np.percentile(volume[volume > 0], 20)
    assert np.corrcoef(back[inside], volume[inside])[0, 1] > 0.9


def test_unknown_contrast_is_refused():
    with pytest.raises(ValueError, match="dwi"):
        to_model_grid({"dwi": np.ones((8, 8, 8))}, np.eye(4), DataConfig())


def test_split_is_by_subject_and_stable(tmp_path):
    ids = [f"S{i:02d}" for i in range(20)]
    split = make_split(ids, 0.15, 0.25, seed=1)
    parts = [set(split[p]) for p in ("train", "validation", "test")]
    assert sum(len(p) for p in parts) == 20 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split["test"]) == 5
    path = tmp_path / "split.json"
    first = load_or_make_split(path, ids, 0.15, 0.25, seed=1)
    assert load_or_make_split(path, ids, 0.5, 0.5, seed=99) == first == json.loads(path.read_text())
