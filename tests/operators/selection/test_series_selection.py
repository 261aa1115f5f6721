"""Series summaries from DICOM headers and the choice of candidate brain MR series, with drop reasons."""

from __future__ import annotations

import logging

import pydicom
import pytest
from pydicom.uid import (
    BasicTextSRStorage,
    CTImageStorage,
    EncapsulatedPDFStorage,
    GrayscaleSoftcopyPresentationStateStorage,
    KeyObjectSelectionDocumentStorage,
    LegacyConvertedEnhancedMRImageStorage,
    RawDataStorage,
    SecondaryCaptureImageStorage,
)

from operators.selection.series_info import SeriesInfoError, series_info_from_datasets
from operators.selection.series_selection import ExclusionRule, SelectionRules, rejection_reason, select_series
from product.names import MANUFACTURER, SERIES_DESCRIPTION_PREFIX

# --- SeriesInfo from headers -------------------------------------------------------------------------------------


def test_series_info_reads_tags_of_classic_instances(mr_datasets):
    datasets = mr_datasets(
        n_slices=12,
        spacing=4.0,
        RepetitionTime=4000,
        EchoTime=95,
        ScanningSequence=["SE"],
        SequenceVariant=["SK", "SP"],
        ContrastBolusAgent="Gadovist",
        ContrastBolusStartTime="100500",
        SeriesNumber=5,
    )
    datasets[3].AcquisitionTime = "101000"  # earlier than SeriesTime: the earliest time counts
    info = series_info_from_datasets(list(reversed(datasets)))
    assert info.series_instance_uid == datasets[0].SeriesInstanceUID
    assert (info.repetition_time, info.echo_time, info.inversion_time) == (4000.0, 95.0, None)
    assert info.scanning_sequence == ("SE",) and info.sequence_variant == ("SK", "SP")
    assert info.image_type == ("ORIGINAL", "PRIMARY", "M", "ND")
    assert info.contrast_bolus_agent == "Gadovist" and info.contrast_bolus_start_time_s == 10 * 3600 + 5 * 60
    assert info.acquisition_key == ("20260105", 10 * 3600 + 10 * 60)
    assert info.series_number == 5 and info.number_of_instances == 12 and info.number_of_frames == 12
    assert info.slice_count == 12 and info.spacing_regular
    assert info.covered_length_mm == pytest.approx(11 * 4.0 + 4.0)
    assert list(info.slice_positions) == sorted(info.slice_positions)
    assert info.missing_geometry == () and info.orientation_consistent


def test_series_info_of_anonymised_instances_holds_none(mr_datasets):
    stripped = {k: None for k in ("SeriesDescription", "SeriesNumber", "SeriesDate", "SeriesTime", "AcquisitionTime")}
    info = series_info_from_datasets(mr_datasets(n_slices=3, Manufacturer=None, ImageType=None, **stripped))
    assert info.series_description is None and info.series_number is None and info.manufacturer is None
    assert info.repetition_time is None and info.image_type == () and info.acquisition_key is None
    assert info.label == "(no description) (series ?)"


def test_series_info_rejects_instances_of_several_series(mr_datasets):
    with pytest.raises(SeriesInfoError, match="2 series"):
        series_info_from_datasets(mr_datasets(n_slices=2) + mr_datasets(n_slices=2))
    with pytest.raises(SeriesInfoError, match="no instances"):
        series_info_from_datasets([])


def test_irregular_slice_spacing_is_visible_in_the_summary(mr_datasets):
    datasets = mr_datasets(n_slices=12)
    del datasets[5]  # a missing slice leaves a double gap
    assert series_info_from_datasets(datasets).spacing_regular is False


def test_series_info_reads_enhanced_mr_functional_groups(enhanced_dataset):
    info = series_info_from_datasets([enhanced_dataset(n_frames=40, spacing=2.0, inversion_time=1800.0)])
    assert info.number_of_instances == 1 and info.number_of_frames == 40 and info.slice_count == 40
    assert (info.repetition_time, info.echo_time, info.inversion_time, info.flip_angle) == (5000, 390, 1800, 120)
    assert info.scanning_sequence == ("SE", "IR") and info.sequence_name == "SPCIR"
    assert info.pixel_spacing == (1.0, 1.0) and info.slice_thickness == 2.0 and info.is_3d
    assert info.covered_length_mm == pytest.approx(80.0)
    assert info.acquisition_contrast == "FLAIR" and info.acquisition_key == ("20260105", 10 * 3600 + 20 * 60)


def test_series_info_reads_legacy_converted_attributes_when_timing_macros_are_absent(enhanced_dataset):
    ds = enhanced_dataset(n_frames=20)
    ds.SOPClassUID = LegacyConvertedEnhancedMRImageStorage
    del ds.EchoPulseSequence
    shared = ds.SharedFunctionalGroupsSequence[0]
    del shared.MRTimingAndRelatedParametersSequence, shared.MREchoSequence
    converted = pydicom.Dataset()
    converted.RepetitionTime, converted.EchoTime, converted.ScanningSequence = 9000.0, 120.0, ["SE", "IR"]
    converted.InversionTime = 2500.0
    shared.UnassignedSharedConvertedAttributesSequence = [converted]
    info = series_info_from_datasets([ds])
    assert (info.repetition_time, info.echo_time, info.inversion_time) == (9000.0, 120.0, 2500.0)
    assert info.scanning_sequence == ("SE", "IR")


def test_series_info_reads_b_values_per_frame(enhanced_dataset):
    info = series_info_from_datasets([enhanced_dataset(n_frames=20, b_values=(0.0, 1000.0))])
    assert info.diffusion_b_values == (0.0, 1000.0)


def test_series_info_from_philips_enhanced_mprage_header(philips_mprage_path):
    info = series_info_from_datasets([pydicom.dcmread(philips_mprage_path, stop_before_pixels=True)])
    assert info.number_of_frames == 176 and info.slice_count == 176 and info.orientation_consistent
    assert info.missing_geometry == () and info.pixel_spacing == (1.0, 1.0) and info.slice_thickness == 1.0
    assert info.covered_length_mm == pytest.approx(176.0, abs=0.01) and info.spacing_regular
    assert info.repetition_time == pytest.approx(7.5693) and info.echo_time == pytest.approx(3.513)
    assert info.scanning_sequence == ("GR",) and info.sequence_name == "T1TFE" and info.acquisition_contrast == "T1"
    assert info.series_description == "MPRAGE_S2" and info.series_number == 301 and info.is_3d
    assert rejection_reason(info) is None


def test_series_info_from_pydicom_emri_small_header():
    # pydicom-data (requirements-dev.txt) ships the file; no download.
    path = pydicom.data.get_testdata_file("emri_small.dcm")
    assert path is not None, "pydicom-data is not installed"
    info = series_info_from_datasets([pydicom.dcmread(path, stop_before_pixels=True)])
    assert info.number_of_frames == 10 and info.rows == info.columns == 64
    assert info.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4.1" and info.acquisition_contrast == "T1"
    # It has no functional groups: no geometry at all, so it is no candidate volume.
    assert info.missing_geometry == ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
    assert rejection_reason(info) == "missing geometry tags ImagePositionPatient, ImageOrientationPatient, PixelSpacing"


# --- keeping and dropping ----------------------------------------------------------------------------------------


def test_candidate_brain_series_is_kept(series_info):
    series = series_info()
    result = select_series([series])
    assert result.kept == [series] and result.dropped == [] and result.study_uid == series.study_instance_uid


@pytest.mark.parametrize("modality", ["CT", "SR", "PR", None])
def test_non_mr_modality_is_dropped_with_reason(series_info, modality):
    reason = rejection_reason(series_info(modality=modality))
    assert reason == f"modality {modality or '(missing)'} is not MR"


@pytest.mark.parametrize(
    "sop_class",
    [
        BasicTextSRStorage,
        GrayscaleSoftcopyPresentationStateStorage,
        RawDataStorage,
        KeyObjectSelectionDocumentStorage,
        EncapsulatedPDFStorage,
        SecondaryCaptureImageStorage,
        CTImageStorage,
    ],
)
def test_non_image_sop_class_is_dropped_with_reason(series_info, sop_class):
    reason = rejection_reason(series_info(sop_class_uid=sop_class))
    assert reason == f"non-image or unsupported SOP class {sop_class.name}"


@pytest.mark.parametrize(
    "fields",
    [
        {"image_type": ("ORIGINAL", "PRIMARY", "LOCALIZER", "NORM")},
        {"series_description": "localizer"},
        {"series_description": "AAHead_Scout_64ch-head-coil"},
        {"series_description": "3Plane Loc"},
        {"series_description": "3-Plane Localizer"},
        {"series_description": "LOC"},
        {"series_description": "Survey"},
        {"series_description": "SmartSurvey"},
        {"series_description": "tripilot"},
        {"series_description": "Tri-Pilot"},
        {"series_description": "3-plane"},
        {"series_description": "Locator"},
        {"series_description": None, "protocol_name": "scout"},
    ],
)
def test_localizer_is_dropped_with_reason(series_info, fields):
    assert rejection_reason(series_info(**fields)).startswith("localizer (")


def test_drop_reason_names_the_matching_text(series_info):
    reason = rejection_reason(series_info(series_description="AAHead_Scout"))
    assert reason == "localizer ('SCOUT' in SeriesDescription 'AAHead_Scout')"


@pytest.mark.parametrize(
    "fields",
    [
        {"manufacturer": MANUFACTURER},
        {"series_description": f"{SERIES_DESCRIPTION_PREFIX} T1CE from t1_mprage_sag (MSG-LDM)"},
        {"series_description": "synthetic flair"},
    ],
)
def test_own_output_is_dropped_with_reason(series_info, fields):
    assert rejection_reason(series_info(**fields)).startswith("output of this node")


@pytest.mark.parametrize(
    "image_type", [("DERIVED", "SECONDARY"), ("DERIVED", "PRIMARY", "M", "ND"), ("ORIGINAL", "SECONDARY")]
)
def test_derived_or_secondary_series_is_dropped_with_reason(series_info, image_type):
    reason = rejection_reason(series_info(image_type=image_type))
    assert reason.startswith("derived or secondary image (ImageType")


@pytest.mark.parametrize(
    ("fields", "reason_start"),
    [
        ({"image_type": ("ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW", "ND")}, "diffusion"),
        ({"image_type": ("DERIVED", "PRIMARY", "DIFFUSION", "ADC", "ND")}, "diffusion"),
        ({"image_type": ("DERIVED", "PRIMARY", "DIFFUSION", "FA", "ND")}, "diffusion"),
        ({"series_description": "ep2d_diff_3scan_trace_p2"}, "diffusion"),
        ({"series_description": "Ax DWI 1000b"}, "diffusion"),
        ({"series_description": "dADC"}, "diffusion"),
        ({"series_description": "ep2d_diff_3scan_trace_p2_ADC"}, "diffusion"),
        ({"series_description": "DTI_FA"}, "diffusion"),
        ({"series_description": "Exponential ADC"}, "diffusion"),
        ({"series_description": None, "sequence_name": "*ep_b1000t"}, "diffusion"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "PERFUSION", "NONE")}, "perfusion"),
        ({"series_description": "ep2d_perf"}, "perfusion"),
        ({"series_description": "Ax DSC perfusion"}, "perfusion"),
        ({"series_description": "DCE_T1"}, "perfusion"),
        ({"series_description": "pCASL"}, "perfusion"),
        ({"series_description": "t2_swi_tra_p2"}, "susceptibility"),
        ({"series_description": "Pha_Images"}, "susceptibility"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "P", "ND")}, "susceptibility"),
        ({"series_description": "mIP_Images(SW)"}, "susceptibility"),
        ({"image_type": ("DERIVED", "PRIMARY", "MIP", "ND")}, "projection or reformat"),
        ({"image_type": ("DERIVED", "SECONDARY", "REFORMATTED")}, "projection or reformat"),
        ({"image_type": ("DERIVED", "SECONDARY", "PROJECTION IMAGE")}, "projection or reformat"),
        (
            {"series_description": "t1_mprage_sag_p2_iso_MPR_tra", "image_type": ("DERIVED", "PRIMARY", "MPR")},
            "projection or reformat",
        ),
        ({"series_description": "gre_field_mapping"}, "field map"),
        ({"series_description": "B0map", "sequence_name": "B0map"}, "field map"),
        ({"series_description": "anything", "sequence_name": "*fm2d2r"}, "field map"),
        ({"series_description": "GRE-MT1"}, "magnetization transfer"),
        ({"series_description": "eDWI"}, "diffusion"),
        ({"series_description": "B1000"}, "diffusion"),
        ({"series_description": "MIP COR"}, "projection or reformat"),
        ({"series_description": "Ax reformat"}, "projection or reformat"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "M", "MOCO")}, "motion-corrected"),
        ({"series_description": "ep2d_bold_moco"}, "motion-corrected"),
        ({"series_description": "tof_fl3d_tra"}, "angiography"),
        ({"series_description": "ASSET cal"}, "calibration"),
        ({"series_description": "ep2d_bold_resting"}, "functional"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC")}, "functional"),
        ({"series_description": "svs_se_30"}, "spectroscopy"),
    ],
)
def test_diffusion_perfusion_swi_and_reformats_are_dropped_with_reason(series_info, fields, reason_start):
    assert rejection_reason(series_info(**fields)).startswith(reason_start)


@pytest.mark.parametrize(
    "description",
    ["T1 MPR", "t1_mpr_ns_sag", "t1_mprage_sag_p2_iso", "T1w_MPR", "T1 vol MPR", "3D T1-weighted_MPR_Cor"],
)
def test_mpr_in_a_name_is_not_taken_for_a_reformat(series_info, description):
    """On many sites MPR in a name is the acquisition (an MPRAGE); a reformat says so in its ImageType."""
    assert rejection_reason(series_info(series_description=description)) is None


@pytest.mark.parametrize("description", ["T2-weighted traceons ac-pc", "T2 TSE"])
def test_words_that_only_look_like_exclusions_are_kept(series_info, description):
    assert rejection_reason(series_info(series_description=description)) is None


def test_positive_b_value_is_dropped_with_reason(series_info):
    reason = rejection_reason(series_info(series_description="ep2d", diffusion_b_values=(0.0, 1000.0)))
    assert reason == "diffusion-weighted (DiffusionBValue 1000)"
    assert rejection_reason(series_info(diffusion_b_values=(0.0,))) is None


def test_non_brain_body_part_is_dropped_with_reason(series_info):
    assert rejection_reason(series_info(body_part_examined="KNEE")) == "body part KNEE is not the head"
    assert rejection_reason(series_info(body_part_examined=None)) is None


@pytest.mark.parametrize("tag", ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"])
def test_missing_geometry_tag_is_dropped_naming_the_tag(mr_datasets, tag):
    datasets = mr_datasets(n_slices=20)
    delattr(datasets[7], tag)
    reason = rejection_reason(series_info_from_datasets(datasets))
    assert reason == f"missing geometry tag {tag}"


def test_inconsistent_orientation_is_dropped_with_reason(mr_datasets):
    datasets = mr_datasets(n_slices=20)
    for ds in datasets[10:]:
        ds.ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    info = series_info_from_datasets(datasets)
    assert not info.orientation_consistent
    assert rejection_reason(info) == "inconsistent ImageOrientationPatient across instances"


def test_series_with_too_few_slices_is_dropped_with_reason(mr_datasets):
    info = series_info_from_datasets(mr_datasets(n_slices=9, spacing=10.0))
    assert rejection_reason(info) == "too few slices for a brain volume: 9 < 10"


def test_repeated_positions_count_once_as_slices(mr_datasets):
    # 3 positions x 4 echoes: 12 images but 3 slices.
    datasets = [ds for _ in range(4) for ds in mr_datasets(n_slices=3, series_uid="1.2.3.4")]
    info = series_info_from_datasets(datasets)
    assert info.number_of_instances == 12 and info.slice_count == 3
    assert rejection_reason(info) == "too few slices for a brain volume: 3 < 10"


def test_series_covering_too_little_is_dropped_with_reason(mr_datasets):
    info = series_info_from_datasets(mr_datasets(n_slices=20, spacing=2.0))
    assert rejection_reason(info) == "too short for a brain volume: covers 40.0 mm along the slice normal (< 60 mm)"


def test_slice_and_coverage_limits_are_rules(mr_datasets):
    info = series_info_from_datasets(mr_datasets(n_slices=8, spacing=2.0))
    assert rejection_reason(info, SelectionRules(min_slices=5, min_coverage_mm=10.0)) is None


def test_exclusion_rules_are_data(series_info):
    rules = SelectionRules(exclusions=(ExclusionRule("research sequence", text=r"\bWIP\b"),))
    assert rejection_reason(series_info(series_description="WIP_t2"), rules) == (
        "research sequence ('WIP' in SeriesDescription 'WIP_t2')"
    )
    assert rejection_reason(series_info(series_description="localizer"), rules) is None


def test_bad_rule_fails_when_built():
    with pytest.raises(ValueError, match="not a regex"):
        ExclusionRule("broken", text="(unclosed")
    with pytest.raises(ValueError, match="min_slices"):
        SelectionRules(min_slices=0)


def test_study_with_most_candidates_is_kept_and_others_dropped(series_info):
    main = [series_info(study_instance_uid="1.1"), series_info(study_instance_uid="1.1")]
    prior = [series_info(study_instance_uid="2.2"), series_info(study_instance_uid="2.2", series_description="LOC")]
    result = select_series([prior[0], *main, prior[1]])
    assert result.study_uid == "1.1" and result.kept == main
    reasons = dict((s.series_instance_uid, r) for s, r in result.dropped)
    assert reasons[prior[0].series_instance_uid] == "other study (2.2; study 1.1 has 2 candidate series)"
    assert reasons[prior[1].series_instance_uid].startswith("localizer")


def test_each_decision_is_logged_with_the_series_uid(series_info, caplog):
    kept, dropped = series_info(), series_info(modality="CT")
    with caplog.at_level(logging.INFO, logger="operators.selection.series_selection"):
        select_series([kept, dropped])
    lines = caplog.messages
    assert any(kept.series_instance_uid in m and "kept" in m for m in lines)
    assert any(dropped.series_instance_uid in m and "modality CT is not MR" in m for m in lines)


def test_study_of_only_unusable_series_keeps_nothing(series_info):
    result = select_series([series_info(modality="CT"), series_info(series_description="localizer")])
    assert result.kept == [] and len(result.dropped) == 2


def test_unusable_acquisitions_are_told_apart_from_series_of_another_kind(series_info):
    usable = series_info(series_instance_uid="1.1")
    no_geometry = series_info(series_instance_uid="1.2", missing_geometry=("PixelSpacing",))
    wrong_modality = series_info(series_instance_uid="1.3", modality="CT")
    localizer = series_info(
        series_instance_uid="1.4", series_description="localizer", missing_geometry=("PixelSpacing",)
    )
    real_ct = series_info(series_instance_uid="1.5", modality="CT", sop_class_uid=CTImageStorage)
    result = select_series([usable, no_geometry, wrong_modality, localizer, real_ct])
    assert [s.series_instance_uid for s in result.kept] == ["1.1"]
    assert [(s.series_instance_uid, reason) for s, reason in result.unusable] == [
        ("1.2", "missing geometry tag PixelSpacing"),
        ("1.3", "modality CT is not MR"),
    ]
