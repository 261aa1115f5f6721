"""Signal equations against closed forms and the tissue contrasts every radiologist expects."""

import numpy as np
import pytest

from simulation import signal
from simulation.protocols import SequenceProtocol
from simulation.rendering import tissue_signal
from simulation.tissues import base_tissue_table


def _protocol(contrast: str, kind: str, tr: float, te: float, ti: float | None = None) -> SequenceProtocol:
    return SequenceProtocol(contrast, kind, tr, te, ti, 90.0, kind in ("mprage", "flair3d"), 1.0)


PROTOCOLS = {
    "t1_se": _protocol("t1", "se", 500, 10),
    "t1_mprage": _protocol("t1", "mprage", 2000, 3, 900),
    "t2": _protocol("t2", "tse", 4000, 100),
    "flair": _protocol("flair", "flair2d", 9000, 120, signal.csf_null_inversion_time(4300, 9000)),
}


def test_spin_echo_matches_closed_form():
    assert signal.spin_echo(0.8, 1000.0, 100.0, 500.0, 10.0) == pytest.approx(0.8 * (1 - np.exp(-0.5)) * np.exp(-0.1))


def test_csf_null_inversion_time_matches_the_documented_value():
    assert signal.csf_null_inversion_time(4300, 9000) == pytest.approx(2483, abs=5)


def test_flair_nulls_csf_at_the_null_inversion_time():
    ti = signal.csf_null_inversion_time(4300, 9000)
    csf = signal.inversion_recovery(1.0, 4300.0, 1800.0, 9000.0, 120.0, ti)
    wm = signal.inversion_recovery(0.7, 884.0, 72.0, 9000.0, 120.0, ti)
    assert csf < 1e-9 < wm


@pytest.mark.parametrize("field", [1.5, 3.0])
@pytest.mark.parametrize("t1_kind", ["t1_se", "t1_mprage"])
def test_t1_orders_wm_over_gm_over_csf(field, t1_kind):
    table = base_tissue_table(field)
    s = {t: tissue_signal(table[t], PROTOCOLS[t1_kind], field, False) for t in ("wm", "gm", "csf")}
    assert s["wm"] > s["gm"] > s["csf"]


@pytest.mark.parametrize("field", [1.5, 3.0])
def test_t2_orders_csf_over_gm_over_wm(field):
    table = base_tissue_table(field)
    s = {t: tissue_signal(table[t], PROTOCOLS["t2"], field, False) for t in ("wm", "gm", "csf")}
    assert s["csf"] > s["gm"] > s["wm"]


@pytest.mark.parametrize("field", [1.5, 3.0])
def test_flair_shows_edema_bright_and_csf_dark(field):
    table = base_tissue_table(field)
    s = {t: tissue_signal(table[t], PROTOCOLS["flair"], field, False) for t in ("wm", "csf", "edema", "wmh")}
    assert s["edema"] > s["wm"] and s["wmh"] > s["wm"]
    assert s["csf"] < 0.2 * s["wm"]


@pytest.mark.parametrize("field", [1.5, 3.0])
def test_gadolinium_brightens_enhancing_tumour_and_not_white_matter(field):
    table = base_tissue_table(field)
    protocol = PROTOCOLS["t1_mprage"]
    post = _protocol("t1ce", "mprage", protocol.tr_ms, protocol.te_ms, protocol.ti_ms)
    tumour_gain = tissue_signal(table["enhancing"], post, field, True) / tissue_signal(
        table["enhancing"], protocol, field, False
    )
    wm_gain = tissue_signal(table["wm"], post, field, True) / tissue_signal(table["wm"], protocol, field, False)
    assert tumour_gain > 1.5
    assert wm_gain == pytest.approx(1.0)


def test_post_contrast_t1_drop_in_enhancing_tumour_is_in_the_measured_range():
    # Measured pre/post T1 difference in glioblastoma: 838 +- 210 ms (simulation.md).
    t1 = 1650.0
    drop = t1 - signal.post_contrast_t1(t1, 0.2, 3.0)
    assert 400 < drop < 1300
