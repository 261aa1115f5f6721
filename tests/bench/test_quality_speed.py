"""The quality-for-speed summary: paired differences against the DDPM reference and the tolerance verdict."""

from __future__ import annotations

import pytest

from bench.quality_speed import REFERENCE, summarize


def _row(method: str, subject: str, scenario: str, psnr: float, ssim: float, seconds: float) -> dict:
    return {
        "method": method,
        "subject": subject,
        "scenario": scenario,
        "psnr": psnr,
        "ssim": ssim,
        "mae": 0.1,
        "gradient_energy_ratio": 1.0,
        "seconds": seconds,
    }


def _rows(psnr_drop: float, ssim_drop: float) -> list[dict]:
    cases = [("s1", "a", 12.0, 0.30), ("s1", "b", 10.0, 0.20), ("s2", "a", 14.0, 0.40)]
    rows = [_row(REFERENCE, s, c, p, q, 100.0) for s, c, p, q in cases]
    rows += [_row("fast", s, c, p - psnr_drop, q - ssim_drop, 4.0) for s, c, p, q in cases]
    return rows


def test_a_sampler_within_both_tolerances_keeps_quality() -> None:
    fast = summarize(_rows(psnr_drop=0.4, ssim_drop=0.004))["fast"]
    assert fast["keeps_quality"]
    assert fast["speedup"] == pytest.approx(25.0)
    assert fast["psnr_minus_reference"]["median"] == pytest.approx(-0.4)
    assert fast["ssim_minus_reference"]["max"] == pytest.approx(-0.004)


@pytest.mark.parametrize(("psnr_drop", "ssim_drop"), [(0.6, 0.0), (0.0, 0.006)])
def test_a_sampler_outside_either_tolerance_does_not(psnr_drop: float, ssim_drop: float) -> None:
    assert not summarize(_rows(psnr_drop, ssim_drop))["fast"]["keeps_quality"]


def test_differences_are_paired_by_subject_and_scenario() -> None:
    rows = _rows(0.0, 0.0)
    rows[-1]["psnr"] += 2.0  # one case better: the others stay exactly equal to the reference
    fast = summarize(rows)["fast"]
    assert (fast["psnr_minus_reference"]["min"], fast["psnr_minus_reference"]["max"]) == pytest.approx((0.0, 2.0))
