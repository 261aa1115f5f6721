"""Contrast identification (names, physics, contrast agent, study order) and the choice of one series a contrast."""

from __future__ import annotations

import logging

import pydicom
import pytest

from operators.identification.contrast_identification import Contrast, choose_per_contrast, identify, identify_study
from operators.identification.contrast_rules import ContrastRules, NameRule, PhysicsRule
from operators.selection.series_info import series_info_from_datasets

T1, T1CE, T2, FLAIR, OTHER = Contrast.T1, Contrast.T1CE, Contrast.T2, Contrast.FLAIR, Contrast.OTHER

NAMES = [
    # Siemens
    ("t1_mprage_sag_p2_iso", T1),
    ("t1_mprage_sag_p2_iso_POST", T1CE),
    ("MPRAGE post GAD", T1CE),
    ("MPRAGE pre GAD", T1),
    ("t1_se_tra", T1),
    ("t1_se_tra_POST", T1CE),
    ("t1_tse_tra_fs_post", T1CE),
    ("t1_fl2d_tra", T1),
    ("T1 MPR", T1),
    ("t1_mpr_ns_sag", T1),
    ("t1_vibe_fs_tra_post", T1CE),
    ("t2_tse_tra", T2),
    ("t2_tse_tra_512", T2),
    ("T2 TSE AX", T2),
    ("t2_blade_tra", T2),
    ("t2_space_sag_p2_iso", T2),
    ("t2_tirm_tra_dark-fluid", FLAIR),
    ("t2_tse_dark-fluid_tra", FLAIR),
    ("t2_space_dark-fluid_sag_p2_iso", FLAIR),
    ("SPACE FLAIR", FLAIR),
    ("t2_swi", OTHER),
    ("t2_fl2d_tra_hemo", OTHER),
    ("pd_tse_tra", OTHER),
    ("t2_stir_cor", OTHER),
    ("TSE_TRA", T2),
    # GE
    ("Sag 3D BRAVO", T1),
    ("+C Sag 3D BRAVO", T1CE),
    ("Ax T1 SE", T1),
    ("+C Ax T1 SE", T1CE),
    ("Ax T1 POST", T1CE),
    ("SAG FSPGR 3D C+", T1CE),
    ("AX T1 FLAIR", T1),
    ("AX T1 FLAIR +C", T1CE),
    ("Ax T2 FRFSE", T2),
    ("AX T2 FSE", T2),
    ("ax t2 propeller", T2),
    ("AX PROPELLER", T2),
    ("Ax T2 FLAIR", FLAIR),
    ("Sag CUBE FLAIR", FLAIR),
    ("T2 FLAIR SAG 3D CUBE", FLAIR),
    ("Ax T2 GRE", OTHER),
    ("Ax T2* GRE", OTHER),
    ("Ax SWAN", OTHER),
    ("Cor STIR", OTHER),
    # Philips
    ("T1W_3D_TFE", T1),
    ("sT1W_3D_TFE", T1),
    ("T1W_3D_TFE +C", T1CE),
    ("3D_T1W_TFE_SENSE_GD", T1CE),
    ("T1W_SE", T1),
    ("T1W_SE_TRA +C", T1CE),
    ("T1W_IR", T1),
    ("T2W_TSE", T2),
    ("T2W_DRIVE", T2),
    ("FLAIR_longTR", FLAIR),
    ("T2W_FLAIR", FLAIR),
    ("3D_Brain_VIEW_FLAIR", FLAIR),
    ("VISTA_FLAIR", FLAIR),
    ("T2_FFE", OTHER),
    ("T2W_FFE", OTHER),
    # Canon
    ("T1WI_SE", T1),
    ("T1WI +C", T1CE),
    ("3D T1 MPRAGE SAG +C", T1CE),
    ("T2 FSE AX", T2),
    ("T2WI_FLAIR", FLAIR),
    ("FLAIR_3D", FLAIR),
    ("FLAIR AX", FLAIR),
    # generic habits
    ("dark fluid", FLAIR),
    ("T2*", OTHER),
    ("T2 GRE", OTHER),
    ("T2 map", OTHER),
    ("PD", OTHER),
    ("PD_TSE", OTHER),
    ("STIR", OTHER),
    ("T1 FLAIR", T1),
    ("AX POST", T1CE),
    ("T1 post fossa", T1),
    ("T1 w/o contrast", T1),
    ("T1 W/ CONTRAST", T1CE),
    ("T1 NON-CONTRAST", T1),
    ("T1 nativ", T1),
    ("T1 KM", T1CE),
    ("T1C", T1CE),
]


@pytest.mark.parametrize(("description", "expected"), NAMES, ids=[n for n, _ in NAMES])
def test_series_description_gives_the_contrast(series_info, description, expected):
    series = series_info(series_description=description)
    found = identify(series, [series])
    assert found.contrast is expected, found.evidence
    assert found.confidence >= 0.5


def test_protocol_name_alone_gives_the_contrast(series_info):
    found = identify(series_info(series_description=None, protocol_name="t2_tse_tra"), [])
    assert found.contrast is T2 and found.confidence == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("sequence_name", "expected"),
    [
        ("*tfl3d1_16ns", T1),
        ("efgre3d", T1),
        ("*se2d1", T1),
        ("T2TSE", T2),
        ("*swi3d1r", OTHER),
        ("*spcir_220ns", FLAIR),
    ],
)
def test_sequence_name_alone_is_weak_evidence(series_info, sequence_name, expected):
    found = identify(series_info(series_description=None, sequence_name=sequence_name), [])
    assert found.contrast is expected and 0 < found.confidence < 0.6


def test_no_evidence_gives_other_with_zero_confidence(series_info):
    found = identify(series_info(series_description=None), [])
    assert (found.contrast, found.confidence, found.evidence) == (OTHER, 0.0, ["no tag evidence"])


def _unnamed(series_info, **fields):
    return series_info(series_description=None, **fields)


def test_flair_recognised_by_inversion_time_when_named_nothing(series_info):
    series = _unnamed(
        series_info, repetition_time=9000, echo_time=120, inversion_time=2500, scanning_sequence=("SE", "IR")
    )
    found = identify(series, [])
    assert found.contrast is FLAIR and found.confidence == pytest.approx(0.9)
    assert "CSF-nulling inversion" in found.evidence[0]


def test_t2_recognised_by_long_tr_and_te_when_named_nothing(series_info):
    found = identify(_unnamed(series_info, repetition_time=4500, echo_time=95, scanning_sequence=("SE",)), [])
    assert found.contrast is T2 and found.confidence >= 0.6


def test_t1_recognised_by_short_tr_and_te_when_named_nothing(series_info):
    found = identify(_unnamed(series_info, repetition_time=550, echo_time=12, scanning_sequence=("SE",)), [])
    assert found.contrast is T1 and found.confidence >= 0.6


def test_mprage_timing_is_t1_when_named_nothing(series_info):
    series = _unnamed(
        series_info, repetition_time=2300, echo_time=2.3, inversion_time=900, scanning_sequence=("GR", "IR")
    )
    found = identify(series, [])
    assert found.contrast is T1 and "MPRAGE-like" in found.evidence[0]


def test_t1_weighted_flair_timing_is_t1_not_flair(series_info):
    series = _unnamed(
        series_info, repetition_time=2200, echo_time=12, inversion_time=860, scanning_sequence=("SE", "IR")
    )
    assert identify(series, []).contrast is T1


def test_short_inversion_time_is_stir_not_flair(series_info):
    series = _unnamed(
        series_info, repetition_time=5000, echo_time=60, inversion_time=160, scanning_sequence=("SE", "IR")
    )
    found = identify(series, [])
    assert found.contrast is OTHER and "STIR" in found.evidence[0]


def test_gradient_echo_with_long_te_is_other_not_t1(series_info):
    found = identify(_unnamed(series_info, repetition_time=650, echo_time=20, scanning_sequence=("GR",)), [])
    assert found.contrast is OTHER and "T2*" in found.evidence[0]


def test_long_tr_short_te_is_proton_density(series_info):
    found = identify(_unnamed(series_info, repetition_time=3000, echo_time=12, scanning_sequence=("SE",)), [])
    assert found.contrast is OTHER and "proton density" in found.evidence[0]


def test_inversion_recovery_with_long_tr_and_te_is_flair_when_ti_is_stripped(series_info):
    found = identify(_unnamed(series_info, repetition_time=9000, echo_time=120, scanning_sequence=("SE", "IR")), [])
    assert found.contrast is FLAIR and found.confidence == pytest.approx(0.7)


def test_long_tr_and_te_without_readout_tags_is_a_less_certain_t2(series_info):
    found = identify(_unnamed(series_info, repetition_time=5000, echo_time=100), [])
    assert found.contrast is T2 and found.confidence == pytest.approx(0.6)


def test_physics_wins_over_a_contradicting_name_and_the_conflict_is_reported(series_info):
    found = identify(
        series_info(series_description="T2", repetition_time=500, echo_time=10, scanning_sequence=("SE",)), []
    )
    assert found.contrast is T1
    assert found.confidence < 0.6
    assert any(line.startswith("conflict") and "'T2'" in line for line in found.evidence)


def test_agreeing_name_and_physics_raise_confidence(series_info):
    named = identify(series_info(series_description="t2_tse_tra"), [])
    both = identify(
        series_info(series_description="t2_tse_tra", repetition_time=5000, echo_time=100, scanning_sequence=("SE",)), []
    )
    assert both.contrast is named.contrast is T2
    assert both.confidence > named.confidence


def test_contrast_agent_tags_make_a_t1_t1ce(series_info):
    series = series_info(series_description="MPRAGE", contrast_bolus_agent="Gadovist")
    found = identify(series, [series])
    assert found.contrast is T1CE and any("ContrastBolusAgent" in line for line in found.evidence)


def test_acquisition_before_the_bolus_start_is_pre_contrast(series_info):
    series = series_info(
        series_description="t1_mprage_sag", contrast_bolus_start_time_s=36600.0, acquisition_time_s=36000.0
    )
    found = identify(series, [])
    assert found.contrast is T1 and any("before ContrastBolusStartTime" in line for line in found.evidence)


def test_post_contrast_word_does_not_change_a_flair(series_info):
    found = identify(series_info(series_description="Ax T2 FLAIR post"), [])
    assert found.contrast is FLAIR


def test_enhanced_mr_declared_contrast_is_evidence(series_info):
    found = identify(_unnamed(series_info, acquisition_contrast="FLAIR"), [])
    assert found.contrast is FLAIR and found.confidence == pytest.approx(0.6)


def _mprage(series_info, number, time_s, **fields):
    return series_info(
        series_description=fields.pop("series_description", "t1_mprage_sag"),
        sequence_name="*tfl3d1_16ns",
        mr_acquisition_type="3D",
        series_number=number,
        acquisition_time_s=time_s,
        **fields,
    )


def test_later_same_kind_t1_in_a_study_with_contrast_tags_is_t1ce_and_the_earlier_t1(series_info):
    pre = _mprage(series_info, 3, 36000.0, contrast_bolus_agent="Gadovist")
    post = _mprage(series_info, 9, 37200.0, contrast_bolus_agent="Gadovist")
    found = identify_study([post, pre])
    assert [f.contrast for f in found] == [T1CE, T1]
    assert all(f.confidence >= 0.6 for f in found)
    assert any("acquired after t1_mprage_sag (series 3)" in line for line in found[0].evidence)


def test_later_same_kind_t1_named_post_makes_the_unnamed_one_t1(series_info):
    pre = _mprage(series_info, 3, 36000.0)
    post = _mprage(series_info, 9, 37200.0, series_description="t1_mprage_sag_post")
    assert [f.contrast for f in identify_study([pre, post])] == [T1, T1CE]


def test_t1_of_another_kind_is_not_ordered_against(series_info):
    spin_echo = series_info(
        series_description="t1_se_tra", sequence_name="*se2d1", series_number=2, acquisition_time_s=35000.0
    )
    post = _mprage(series_info, 9, 37200.0, contrast_bolus_agent="Gadovist")
    found = identify_study([spin_echo, post])
    assert [f.contrast for f in found] == [T1, T1CE]
    assert not any("first of" in line for line in found[0].evidence)


def test_same_kind_t1_pair_without_contrast_evidence_is_flagged(series_info):
    first, second = _mprage(series_info, 3, 36000.0), _mprage(series_info, 9, 37200.0)
    found = identify_study([first, second])
    assert [f.contrast for f in found] == [T1, T1]
    assert all("no contrast evidence to order them" in f.evidence[-1] and f.confidence < 0.8 for f in found)


def test_identify_uses_the_study_context_for_the_order_rule(series_info):
    pre = _mprage(series_info, 3, 36000.0, contrast_bolus_agent="Gd")
    post = _mprage(series_info, 9, 37200.0, contrast_bolus_agent="Gd")
    assert identify(pre, [pre, post]).contrast is T1
    assert identify(post, [pre, post]).contrast is T1CE


def test_identification_is_logged_with_the_series_uid(series_info, caplog):
    series = series_info(series_description="t2_tse_tra")
    with caplog.at_level(logging.INFO, logger="operators.identification.contrast_identification"):
        identify_study([series])
    assert any(series.series_instance_uid in m and "t2" in m for m in caplog.messages)


def test_philips_enhanced_mprage_header_is_t1(philips_mprage_path):
    info = series_info_from_datasets([pydicom.dcmread(philips_mprage_path, stop_before_pixels=True)])
    found = identify(info, [info])
    assert found.contrast is T1 and found.confidence > 0.9
    assert any("short TR and TE gradient echo" in line for line in found.evidence)


def test_rules_are_data_and_a_custom_rule_applies(series_info):
    rules = ContrastRules(name_rules=(NameRule(r"\bMYT2\b", T2, 0.7, "site T2"),))
    found = identify_study([series_info(series_description="myt2 ax")], rules)[0]
    assert found.contrast is T2 and found.confidence == pytest.approx(0.7)


def test_bad_rule_fails_when_built():
    with pytest.raises(ValueError, match="not a regex"):
        NameRule("(T2", T2, 0.5, "broken")
    with pytest.raises(ValueError, match="not in"):
        PhysicsRule("too strong", T1, 1.5)


# --- one series a contrast ---------------------------------------------------------------------------------------


def _identified(series_info, **fields):
    series = series_info(**fields)
    return identify(series, [series])


def test_choice_prefers_3d_over_2d_and_names_both_series(series_info):
    se = _identified(series_info, series_description="t1_se_tra", series_number=3, mr_acquisition_type="2D")
    mprage = _identified(series_info, series_description="t1_mprage_sag", series_number=5, mr_acquisition_type="3D")
    choice = choose_per_contrast([se, mprage])[T1]
    assert choice.chosen is mprage and choice.candidates == (se, mprage)
    assert choice.reason == "T1: chose 3D t1_mprage_sag (series 5) over 2D t1_se_tra (series 3): 3D over 2D"


def test_choice_prefers_confident_over_unconfident(series_info):
    weak = _identified(series_info, series_description=None, sequence_name="*tfl3d1", mr_acquisition_type="3D")
    sure = _identified(series_info, series_description="t1_se_tra", series_number=3)
    choice = choose_per_contrast([weak, sure])[T1]
    assert choice.chosen is sure and "confidence 0.80 >= 0.6 over 0.50" in choice.reason


def test_choice_prefers_finer_voxels(series_info):
    coarse = _identified(series_info, series_description="t2_tse_tra", series_number=4, slice_thickness=5.0)
    fine = _identified(series_info, series_description="t2_tse_tra_512", series_number=6, slice_thickness=3.0)
    choice = choose_per_contrast([fine, coarse])[T2]
    assert choice.chosen is fine and "finer voxels (0.75 mm3 vs 1.25 mm3)" in choice.reason


def test_choice_prefers_the_latest_acquisition_when_otherwise_equal(series_info):
    early = _identified(series_info, series_description="t2_tse_tra", series_number=4, acquisition_time_s=100.0)
    late = _identified(series_info, series_description="t2_tse_tra", series_number=8, acquisition_time_s=900.0)
    choice = choose_per_contrast([late, early])[T2]
    assert choice.chosen is late and choice.reason.endswith("acquired later")


def test_choice_of_a_single_candidate_says_so_and_other_is_never_chosen(series_info):
    flair = _identified(series_info, series_description="t2_tirm_tra_dark-fluid", series_number=6)
    pd = _identified(series_info, series_description="pd_tse_tra", series_number=7)
    choices = choose_per_contrast([flair, pd])
    assert set(choices) == {FLAIR}
    assert choices[FLAIR].reason == "FLAIR: 2D t2_tirm_tra_dark-fluid (series 6) is the only candidate"
