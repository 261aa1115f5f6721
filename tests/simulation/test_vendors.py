"""Vendor naming profiles: complete, within DICOM's value limits, and applied as written to every series."""

from __future__ import annotations

import re

import pytest

from simulation.vendors import PROFILES, ROLES, vendor_profile

CS_VALUE = re.compile(r"^[A-Z0-9_ ]{1,16}$")
PLACEHOLDERS = {"etl": 200, "b": 1000, "t": "t", "trace": "TRACEW", "dwi": "x" * 20}
STUDIES = {
    "siemens": ("siemens", False),
    "ge_2d": ("ge", True),
    "philips": ("philips", False),
    "canon": ("canon", True),
}


@pytest.mark.parametrize("vendor", sorted(PROFILES))
def test_every_profile_names_every_role_within_dicom_limits(vendor):
    profile = vendor_profile(vendor)
    assert set(profile.series) == set(ROLES)
    for role, naming in profile.series.items():
        assert naming.descriptions, role
        assert all(0 < len(d.format(**PLACEHOLDERS)) <= 64 for d in naming.descriptions), role  # LO
        assert 0 < len(naming.sequence_name.format(**PLACEHOLDERS)) <= 16, role  # SH
        for values in (naming.scanning_sequence, naming.sequence_variant, naming.scan_options):
            assert all(CS_VALUE.match(v) for v in values), (role, values)
        image_type = [v.format(**PLACEHOLDERS) for v in naming.image_type]
        assert image_type[0] in ("ORIGINAL", "DERIVED") and image_type[1] == "PRIMARY", role
        assert all(CS_VALUE.match(v) for v in image_type), (role, image_type)
    for role in ("t1_3d", "t1_2d"):
        assert len(profile.naming(role).descriptions) == len(profile.naming(role.replace("t1", "t1ce")).descriptions)
    assert {m.field_strength_t for m in profile.models} == {1.5, 3.0}
    assert all(0 < len(m.name) <= 64 for m in profile.models)


def _values(value) -> list[str]:
    """A CS attribute as a list, whether pydicom returned one value, several, or an empty string."""
    if isinstance(value, str):
        return [value] if value else []
    return list(value)


def test_unknown_vendor_is_rejected_with_the_known_ones_named():
    with pytest.raises(ValueError, match="siemens"):
        vendor_profile("hitachi")


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_series_are_named_as_the_vendor_profile_says(name, write_session_study, reader):
    vendor, two_d = STUDIES[name]
    study = write_session_study(vendor, two_d=two_d)
    profile = vendor_profile(vendor)
    dwi_description = next(r.series_description for r in study.series if r.role == "dwi")
    for record in study.series:
        naming = profile.naming(record.role)
        datasets = reader.read_series(study.out / record.folder)
        first = datasets[0]
        expected = [d.format(dwi=dwi_description) for d in naming.descriptions]
        assert first.SeriesDescription in expected, record.folder
        assert first.ProtocolName == (dwi_description if record.role == "adc" else first.SeriesDescription)
        assert _values(first.ScanningSequence) == list(naming.scanning_sequence)
        assert _values(first.SequenceVariant) == list(naming.sequence_variant)
        assert _values(first.ScanOptions) == list(naming.scan_options)
        fields = {"etl": first.EchoTrainLength, "b": 0, "t": "", "trace": "NONE"}
        assert list(first.ImageType) == [v.format(**fields) for v in naming.image_type]
        assert first.SequenceName == naming.sequence_name.format(**fields)
        assert ("InversionTime" in first) == ("IR" in naming.scanning_sequence)
    # One site, one naming style: the post-contrast T1 is named like the pre-contrast one.
    pre, post = study.by_contrast("t1"), study.by_contrast("t1ce")
    pre_names, post_names = profile.naming(pre.role).descriptions, profile.naming(post.role).descriptions
    assert pre_names.index(pre.series_description) == post_names.index(post.series_description)
    models = profile.models_at(study.field_strength_t)
    assert study.model in {m.name for m in models}
    assert study.manufacturer in {m.manufacturer or profile.manufacturer for m in models}


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_equipment_and_field_strength_are_consistent(name, write_session_study, reader):
    vendor, two_d = STUDIES[name]
    study = write_session_study(vendor, two_d=two_d)
    for record in study.series:
        ds = reader.read_series(study.out / record.folder)[0]
        assert ds.Manufacturer == study.manufacturer and ds.ManufacturerModelName == study.model
        assert float(ds.MagneticFieldStrength) == study.field_strength_t
        # Larmor frequency of the magnet's true field (Siemens "3 T" magnets run at 2.89 T).
        assert float(ds.ImagingFrequency) == pytest.approx(42.577 * study.field_strength_t, rel=0.05)
        assert ds.BodyPartExamined == vendor_profile(vendor).body_part and ds.PatientPosition == "HFS"


def test_series_numbers_follow_each_vendors_numbering(write_session_study):
    numbers = {
        vendor: {r.role: r.series_number for r in write_session_study(vendor, two_d=two_d).series}
        for vendor, two_d in STUDIES.values()
    }
    # Siemens numbers acquired and derived series in one sequence; GE puts the ADC at 100 x DWI; Philips counts
    # acquisitions in hundreds and derived series add one.
    assert numbers["siemens"]["adc"] == numbers["siemens"]["dwi"] + 1 == numbers["siemens"]["t1ce_3d"] - 1
    assert numbers["ge"]["adc"] == 100 * numbers["ge"]["dwi"] and numbers["ge"]["t1ce_2d"] == numbers["ge"]["dwi"] + 1
    assert numbers["philips"]["localizer"] == 101 and numbers["philips"]["adc"] == numbers["philips"]["dwi"] + 1
    assert numbers["philips"]["t1ce_3d"] == numbers["philips"]["dwi"] + 100
