"""Evaluation summaries: bootstrap intervals over subjects and paired differences between methods."""

import pytest

from models.evaluation.report import bootstrap_interval, paired_differences, paired_table, summarise


def _rows():
    rows = []
    for i, subject in enumerate(("s1", "s2", "s3", "s4", "s5")):
        hard = 5.0 * (i % 2)  # odd subjects are hard for every method
        for method, offset in (("model", 2.0), ("baseline", 0.0)):
            rows.append(
                {
                    "subject": subject,
                    "scenario": "t1+t2 -> flair",
                    "target": "flair",
                    "method": method,
                    "psnr": 25.0 + offset - hard + 0.1 * i,
                    "ssim": 0.8,
                    "mae": 0.05,
                }
            )
    return rows


def test_interval_contains_the_mean_and_narrows_to_a_point_for_constant_values():
    low, high = bootstrap_interval([1.0, 2.0, 3.0, 4.0])
    assert low <= 2.5 <= high and low < high
    assert bootstrap_interval([3.0, 3.0, 3.0]) == (3.0, 3.0)


def test_paired_differences_cancel_what_subjects_share():
    (difference,) = paired_differences(_rows(), "model", "baseline")
    assert difference["difference"] == pytest.approx(2.0)
    assert difference["low"] == pytest.approx(2.0) and difference["high"] == pytest.approx(2.0)
    unpaired = [e for e in summarise(_rows()) if e["method"] == "model"][0]["psnr_ci"]
    assert unpaired[1] - unpaired[0] > 1.0  # the hard subjects widen an interval of the means alone
    assert "+2.00 [+2.00, +2.00]" in paired_table(_rows(), "model", ["baseline"])
