"""How the node reads a study's series from the image classifier's probabilities alone (no tag evidence)."""

from __future__ import annotations

import numpy as np

from models.contrast_classifier import CONTRASTS, ContrastClassifier, study_calls, study_decisions


def _p(t1: float, t1ce: float, t2: float, flair: float, other: float | None = None) -> dict[str, float]:
    p = {"t1": t1, "t1ce": t1ce, "t2": t2, "flair": flair}
    return p if other is None else {**p, "other": other}


def test_of_two_t1_weighted_series_the_more_enhanced_is_the_t1ce():
    calls = study_calls([_p(0.6, 0.3, 0.05, 0.05), _p(0.55, 0.4, 0.03, 0.02), _p(0.0, 0.0, 0.9, 0.1)])
    assert [c.contrast for c in calls] == ["t1", "t1ce", "t2"]
    assert "the most enhanced of 2" in calls[1].how and "less enhanced" in calls[0].how
    assert abs(calls[1].probability - 0.95) < 1e-9


def test_a_lone_t1_weighted_series_goes_by_the_likelier_and_an_unsure_one_is_left_open():
    calls = study_calls([_p(0.3, 0.6, 0.05, 0.05), _p(0.2, 0.2, 0.35, 0.25)])
    assert (calls[0].contrast, calls[0].probability) == ("t1ce", 0.6) and "the only such series" in calls[0].how
    assert calls[1].contrast is None and "needs 0.7" in calls[1].how


def test_the_last_unsure_series_takes_the_one_contrast_left_by_exclusion():
    """A skull-stripped 3D FLAIR: FLAIR its likeliest class, but under 0.7 alone."""
    t1, t1ce, t2 = _p(0.8, 0.15, 0.0, 0.0, 0.05), _p(0.3, 0.65, 0.0, 0.0, 0.05), _p(0.0, 0.0, 0.9, 0.05, 0.05)
    flair = _p(0.25, 0.2, 0.05, 0.45, 0.05)
    calls = study_calls([t1, t1ce, t2, flair])
    assert [c.contrast for c in calls] == ["t1", "t1ce", "t2", "flair"]
    assert calls[3].how.startswith("by exclusion") and calls[3].probability == 0.45
    # The three others named by their tags, only the FLAIR looked at: the same call.
    (alone,) = study_calls([flair], taken={"t1", "t1ce", "t2"})
    assert alone.contrast == "flair" and "by exclusion" in alone.how


def test_no_exclusion_for_a_series_likelier_other_or_another_contrast_or_without_an_other_class():
    taken = {"t1", "t1ce", "t2"}
    dwi = _p(0.05, 0.05, 0.2, 0.35, 0.35)  # FLAIR-like dark CSF, as likely "other"
    assert study_calls([dwi], taken=taken)[0].contrast is None
    adc = _p(0.0, 0.0, 0.2, 0.1, 0.7)
    (call,) = study_calls([adc], taken={"t1", "t1ce"})
    assert call.contrast is None and call.how == "none of the four contrasts"
    t2_like = _p(0.1, 0.1, 0.45, 0.3, 0.05)
    assert study_calls([t2_like], taken=taken)[0].contrast is None, "its likeliest contrast is taken"
    assert study_calls([_p(0.25, 0.2, 0.1, 0.45)], taken=taken)[0].contrast is None, "a 4-class classifier"
    two_unsure = study_calls([_p(0.25, 0.2, 0.1, 0.4, 0.05), _p(0.25, 0.2, 0.1, 0.4, 0.05)], taken=taken)
    assert [c.contrast for c in two_unsure] == [None, None], "which of two would be a guess"


def test_study_decisions_count_each_series_once_per_class_and_geometry():
    """Two studies of four series; a network that scores every slice alike calls all series of a study T1-family
    or not, so the counts, not the accuracy, are what this checks."""
    rng = np.random.default_rng(0)
    slices = rng.uniform(-1, 1, size=(16, 1, 64, 64)).astype(np.float16)
    studies = {
        "slices": slices,
        "labels": np.repeat(np.tile(np.arange(len(CONTRASTS)), 2), 2),
        "volumes": np.repeat(np.arange(8), 2),
        "geometries": np.array(["3D sagittal", "3D sagittal", "2D axial", "2D axial"] * 2),
        "vendors": np.array(["ge"] * 4 + ["canon"] * 4),
        "heads": np.array(["whole head"] * 8),
    }
    result = study_decisions(ContrastClassifier(), studies)
    assert result["all"]["series"] == 8
    assert {k: v["series"] for k, v in result.items() if k.startswith("class ")} == {f"class {c}": 2 for c in CONTRASTS}
    assert result["geometry 3D sagittal"]["series"] == 4 and result["t1ce 3D sagittal"]["series"] == 2
    assert result["ge"]["series"] == result["canon"]["series"] == 4 and result["whole head"]["series"] == 8
    assert all(0.0 <= v["accuracy"] <= 1.0 for v in result.values())
    others = {
        "slices": rng.uniform(-1, 1, size=(4, 1, 64, 64)).astype(np.float16),
        "labels": np.full(4, 4),
        "volumes": np.repeat(np.arange(2), 2),
        "geometries": np.array(["adc", "dwi b1000"]),
        "vendors": np.array(["none", "none"]),
        "heads": np.array(["whole head", "whole head"]),
    }
    replaced = study_decisions(ContrastClassifier(), studies, others)
    assert replaced["FLAIR replaced by an other series"]["series"] == 8, "each study once more, its FLAIR replaced"
    assert replaced["FLAIR replaced: other"]["series"] == 2 and replaced["other adc"]["series"] == 1
    assert {k: v for k, v in replaced.items() if k in result} == result, "the studies as they are: unchanged"
