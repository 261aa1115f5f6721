"""Which series of a study are candidate brain MR image volumes, with a reason for every series dropped.

Pure logic on `SeriesInfo` summaries (no Holoscan import): the selector
operator wraps `select_series`. Keyword rules are data (`ExclusionRule`
tuples in a frozen `SelectionRules`) read by one matcher; the structural
checks (modality, SOP class, geometry, extent) run in a fixed order and the
first that fails names the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydicom.uid import UID, EnhancedMRImageStorage, LegacyConvertedEnhancedMRImageStorage, MRImageStorage

from operators.selection.dicom_values import name_text, normalise_text
from operators.selection.series_info import SeriesInfo
from product.names import MANUFACTURER, SERIES_DESCRIPTION_PREFIX

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExclusionRule:
    """A keyword rule: a series that matches it is not a candidate, and `reason` says what it is.

    Attributes:
        reason: what such a series is, as the drop reason says it ("localizer", ...).
        image_type: ImageType values (upper case, exact) any one of which matches.
        text: regex searched in the normalised SeriesDescription and ProtocolName
            (upper case, underscores as spaces; see `normalise_text`).
        sequence_name: regex searched in the normalised SequenceName.
        unless: regex that, found in the same text, cancels a `text` match.
        keeps_contrast: the series still shows an acquired contrast (a reformat, a derived image): it is not a
            candidate, but identification looks at it so that its contrast is not synthesized as missing.
    """

    reason: str
    image_type: frozenset[str] = frozenset()
    text: str | None = None
    sequence_name: str | None = None
    unless: str | None = None
    keeps_contrast: bool = False

    def __post_init__(self) -> None:
        for name in ("text", "sequence_name", "unless"):
            pattern = getattr(self, name)
            try:
                re.compile(pattern or "")
            except re.error as err:
                raise ValueError(f"exclusion rule {self.reason!r}: {name} {pattern!r} is not a regex: {err}") from err

    def match(self, series: SeriesInfo) -> str | None:
        """The evidence that `series` matches (e.g. "ImageType LOCALIZER"), or None."""
        hits = sorted(self.image_type.intersection(series.image_type))
        if hits:
            return f"ImageType {'/'.join(hits)}"
        fields = (("SeriesDescription", series.series_description), ("ProtocolName", series.protocol_name))
        if self.sequence_name:
            fields += (("SequenceName", series.sequence_name),)
        for tag, value in fields:
            pattern = self.sequence_name if tag == "SequenceName" else self.text
            text = normalise_text(value) if tag == "SequenceName" else name_text(value)
            found = re.search(pattern, text) if pattern and text else None
            if found and not (self.unless and re.search(self.unless, text)):
                return f"{found.group(0).strip()!r} in {tag} {value!r}"
        return None


DEFAULT_EXCLUSIONS: tuple[ExclusionRule, ...] = (
    ExclusionRule(
        "localizer",
        frozenset({"LOCALIZER"}),
        r"LOCALI[SZ]|\bLOC\b|LOCATOR|SCOUT|SURVEY|\b3\W?PLANE|TRI\W?PILOT|\bPILOT\b",
    ),
    ExclusionRule("calibration or reference scan", text=r"\bCAL\b|CALIBRATION|\bREF\W?SCAN|\bSENSE\W?REF"),
    ExclusionRule(
        "field map",
        frozenset({"FIELDMAP", "B0MAP", "B1MAP"}),
        r"FIELD\W?MAP|\bFMAP|\bGRE\W?FIELD|\bB[01]\W?(MAP|RF)|\b(3D|2D)?B[01]\W?MAPS?\b|\bB1\W?(CAL|ABS)",
        sequence_name=r"^\*?(FM\d|B0|B1|TFL\W?B1|SE2D1\W?B1)",
    ),
    ExclusionRule(
        "field map (dual-echo gradient echo)",
        text=r"\bDUAL\W?ECHO\b",
        unless=r"\b(T?SE|FSE|TSE|T2W?|PDW?)\b",
    ),
    ExclusionRule("magnetization transfer", frozenset({"MT", "MTR"}), r"\bMT\W?(ON|OFF|\d)?\b|\bMTR\b|MTSAT"),
    ExclusionRule(
        "diffusion-weighted or diffusion map",
        frozenset({"DIFFUSION", "ADC", "EADC", "TRACEW", "FA", "DTI", "TENSOR", "CALC_BVALUE"}),
        r"\bE?DWI|\bDIFF|\b[DE]?ADC\b|\bTRACEW?\b|\bFA\b|\bDTI\b|TENSOR|\bEXP\b|\bB\W?[1-9]\d{2,3}\b",
        sequence_name=r"^\*?(EP|RE)\W?B\d|DIFF|DWI",
    ),
    ExclusionRule(
        "perfusion",
        frozenset({"PERFUSION", "TTP", "RELCBV", "RELCBF", "RELMTT", "MTT", "CBF", "CBV", "ASL", "DSC", "DCE"}),
        r"\bPERF|\bDSC\b|\bDCE\b|\b(P|PC)?ASL\b|\bCBF\b|\bCBV\b|\bMTT\b|\bTTP\b",
    ),
    ExclusionRule(
        "susceptibility-weighted or phase image",
        frozenset({"SWI", "P", "PHASE", "PHASE MAP", "MNIP", "MINIP"}),
        r"\bSWI|\bSWAN\b|\bSWIP\b|\bPHA\b|\bPHASE|\bMIN\W?IP\b|\bMNIP\b|\b(MAG|PHA)\W?IMAGES\b|\(SW\)",
    ),
    ExclusionRule(
        "projection or reformat",
        frozenset({"MIP", "MPR", "PROJECTION IMAGE", "REFORMATTED", "CPR", "CURVED"}),
        r"\bMIP\b|\bMAX\W?IP\b|REFORMAT|\bREFMT\b|\bRFMT\b|PROJECTION|\b3D\W?REC",
        keeps_contrast=True,
    ),
    ExclusionRule(
        "motion-corrected or subtraction series",
        frozenset({"MOCO", "MOCOSERIES", "SUBTRACTION", "SUB"}),
        r"\bMOCO|SUBTRACT|\bSUB\b",
    ),
    ExclusionRule("functional (BOLD) or mosaic series", frozenset({"MOSAIC", "FMRI"}), r"\bBOLD\b|\bFMRI\b|RESTING"),
    ExclusionRule("angiography", text=r"\bTOF\b|\bMRA\b|ANGIO|\bMRV\b|VENOGRAM"),
    ExclusionRule("spectroscopy", text=r"SPECTRO|\bSVS\b|\bCSI\b|\bMRS\b"),
    ExclusionRule("derived or secondary image", frozenset({"DERIVED", "SECONDARY"}), keeps_contrast=True),
)
"""Keyword rules in the order they are tried: the first that matches names the drop reason."""

NON_BRAIN_BODY_PARTS = frozenset(
    "SPINE CSPINE TSPINE LSPINE SSPINE WHOLESPINE CHEST THORAX BREAST HEART ABDOMEN LIVER KIDNEY "  # noqa: SIM905 (a word list, not a column)
    "PELVIS PROSTATE HIP KNEE LEG ANKLE FOOT SHOULDER ARM ELBOW WRIST HAND EXTREMITY".split()
)
"""Body Part Examined values (PS3.16 CID 4031 style) of studies that are not of the brain."""


@dataclass(frozen=True)
class SelectionRules:
    """What a candidate series must be; the defaults suit a routine brain MR study.

    Attributes:
        min_slices: fewest distinct slices (or frames) of a brain volume.
        min_coverage_mm: shortest extent along the slice normal of a brain volume.
        modalities: accepted Modality values.
        image_sop_classes: accepted SOP Class UIDs (MR image storage classes).
        exclusions: keyword rules, tried in order.
        own_manufacturers: Manufacturer values of this product's own output (upper case).
        own_description_prefixes: SeriesDescription starts of this product's own output (upper case).
        non_brain_body_parts: BodyPartExamined values that rule a series out.
    """

    min_slices: int = 10
    min_coverage_mm: float = 60.0
    modalities: frozenset[str] = frozenset({"MR"})
    image_sop_classes: frozenset[str] = frozenset(
        {MRImageStorage, EnhancedMRImageStorage, LegacyConvertedEnhancedMRImageStorage}
    )
    exclusions: tuple[ExclusionRule, ...] = DEFAULT_EXCLUSIONS
    own_manufacturers: frozenset[str] = frozenset({MANUFACTURER.upper()})
    own_description_prefixes: tuple[str, ...] = (SERIES_DESCRIPTION_PREFIX.upper(),)
    non_brain_body_parts: frozenset[str] = NON_BRAIN_BODY_PARTS

    def __post_init__(self) -> None:
        if self.min_slices < 1:
            raise ValueError(f"min_slices must be at least 1, got {self.min_slices}")
        if self.min_coverage_mm < 0:
            raise ValueError(f"min_coverage_mm must not be negative, got {self.min_coverage_mm}")


@dataclass
class SelectionResult:
    """The candidate series of the chosen study and every other series with the reason it was dropped."""

    kept: list[SeriesInfo] = field(default_factory=list)
    dropped: list[tuple[SeriesInfo, str]] = field(default_factory=list)
    unusable: list[tuple[SeriesInfo, str]] = field(default_factory=list)
    """The dropped series of the chosen study that are acquisitions the node cannot use (geometry, extent,
    a wrong Modality), as opposed to series of another kind (localizer, DWI...): identification still looks
    at them, so that a contrast acquired but unusable is not synthesized as if it were missing."""
    study_uid: str | None = None


def _modality(series: SeriesInfo, rules: SelectionRules) -> str | None:
    if series.modality not in rules.modalities:
        return f"modality {series.modality or '(missing)'} is not {'/'.join(sorted(rules.modalities))}"
    return None


def _sop_class(series: SeriesInfo, rules: SelectionRules) -> str | None:
    if series.sop_class_uid is None or series.sop_class_uid in rules.image_sop_classes:
        return None
    return f"non-image or unsupported SOP class {UID(series.sop_class_uid).name}"


def _own_output(series: SeriesInfo, rules: SelectionRules) -> str | None:
    if (series.manufacturer or "").upper() in rules.own_manufacturers:
        return f"output of this node (Manufacturer {series.manufacturer!r})"
    description = (series.series_description or "").strip().upper()
    prefix = next((p for p in rules.own_description_prefixes if description.startswith(p)), None)
    return f"output of this node (SeriesDescription starts with {prefix!r})" if prefix else None


def _keyword_rule(series: SeriesInfo, rules: SelectionRules) -> tuple[ExclusionRule, str] | None:
    """The first exclusion rule `series` matches, with the reason it gives."""
    for rule in rules.exclusions:
        evidence = rule.match(series)
        if evidence:
            return rule, f"{rule.reason} ({evidence})"
    return None


def _keywords(series: SeriesInfo, rules: SelectionRules) -> str | None:
    found = _keyword_rule(series, rules)
    return found[1] if found else None


def other_kind_reason(series: SeriesInfo, rules: SelectionRules = SelectionRules()) -> str | None:
    """Why the keyword rules say `series` is of a kind other than the four contrasts (localizer, diffusion,
    field map...), or None; reformats and derived images keep their contrast and give None."""
    found = _keyword_rule(series, rules)
    return found[1] if found and not found[0].keeps_contrast else None


def _b_value(series: SeriesInfo, rules: SelectionRules) -> str | None:
    b_max = max(series.diffusion_b_values, default=0.0)
    return f"diffusion-weighted (DiffusionBValue {b_max:g})" if b_max > 0 else None


def _body_part(series: SeriesInfo, rules: SelectionRules) -> str | None:
    part = (series.body_part_examined or "").replace(" ", "")
    return f"body part {series.body_part_examined} is not the head" if part in rules.non_brain_body_parts else None


def _geometry(series: SeriesInfo, rules: SelectionRules) -> str | None:
    missing = series.missing_geometry
    if not missing:
        return None
    return f"missing geometry tag{'s' if len(missing) > 1 else ''} {', '.join(missing)}"


def _orientation(series: SeriesInfo, rules: SelectionRules) -> str | None:
    return None if series.orientation_consistent else "inconsistent ImageOrientationPatient across instances"


def _slices(series: SeriesInfo, rules: SelectionRules) -> str | None:
    count = series.slice_count
    if count < rules.min_slices:
        return f"too few slices for a brain volume: {count} < {rules.min_slices}"
    return None


def _coverage(series: SeriesInfo, rules: SelectionRules) -> str | None:
    length = series.covered_length_mm
    if length is not None and length < rules.min_coverage_mm:
        limit = rules.min_coverage_mm
        return f"too short for a brain volume: covers {length:.1f} mm along the slice normal (< {limit:g} mm)"
    return None


CHECKS: tuple[Callable[[SeriesInfo, SelectionRules], str | None], ...] = (
    _modality,
    _sop_class,
    _own_output,
    _keywords,
    _b_value,
    _body_part,
    _geometry,
    _orientation,
    _slices,
    _coverage,
)
"""The checks in the order they run; each returns a drop reason or None."""


UNUSABLE_ACQUISITION_CHECKS = frozenset({_modality, _geometry, _orientation, _slices, _coverage})
"""Checks whose failure leaves the series an MR acquisition the node cannot use, not a series of another kind
(keyword rules decide that for themselves: `ExclusionRule.keeps_contrast`)."""


def _first_failure(
    series: SeriesInfo, rules: SelectionRules
) -> tuple[Callable[[SeriesInfo, SelectionRules], str | None] | None, str | None]:
    for check in CHECKS:
        reason = check(series, rules)
        if reason:
            return check, reason
    return None, None


def rejection_reason(series: SeriesInfo, rules: SelectionRules = SelectionRules()) -> str | None:
    """Why `series` is not a candidate brain MR image volume, or None when it is one.

    Args:
        series: the series summary.
        rules: what a candidate must be.

    Returns:
        The first failed check's reason, human-readable, or None.
    """
    return _first_failure(series, rules)[1]


def _unusable_acquisition(check: Callable | None, series: SeriesInfo, rules: SelectionRules) -> bool:
    """Dropped for geometry, extent or Modality while stored as MR images, or as a reformat or derived image:
    it still shows a contrast that was acquired, though the node cannot use it."""
    if series.sop_class_uid is not None and series.sop_class_uid not in rules.image_sop_classes:
        return False
    if check is _keywords:
        found = _keyword_rule(series, rules)
        return found is not None and found[0].keeps_contrast
    return check in UNUSABLE_ACQUISITION_CHECKS


def select_series(series: list[SeriesInfo], rules: SelectionRules = SelectionRules()) -> SelectionResult:
    """Keep the candidate brain MR image series of one study and give a reason for every series dropped.

    When the series belong to several studies, the study with the most
    candidate series is kept (ties: the study met first) and the candidates of
    the others are dropped as "other study".

    Args:
        series: summaries of every series received, in any order.
        rules: what a candidate must be.

    Returns:
        Kept series (input order), dropped series with their reasons, and the chosen StudyInstanceUID.
    """
    failures = [_first_failure(s, rules) for s in series]
    reasons = [reason for _, reason in failures]
    counts: dict[str | None, int] = {}
    for s, reason in zip(series, reasons):
        counts[s.study_instance_uid] = counts.get(s.study_instance_uid, 0) + (reason is None)
    study_uid = max(counts, key=lambda uid: counts[uid]) if counts else None
    result = SelectionResult(study_uid=study_uid)
    for s, (check, reason) in zip(series, failures):
        if reason is None and s.study_instance_uid != study_uid:
            reason = f"other study ({s.study_instance_uid}; study {study_uid} has {counts[study_uid]} candidate series)"
        if reason is None:
            result.kept.append(s)
            logger.info("series %s kept as a candidate: %s", s.series_instance_uid, s.label)
            continue
        result.dropped.append((s, reason))
        logger.info("series %s dropped: %s", s.series_instance_uid, reason)
        if s.study_instance_uid == study_uid and _unusable_acquisition(check, s, rules):
            result.unusable.append((s, reason))
    logger.info("study %s: %d of %d series kept", study_uid, len(result.kept), len(series))
    return result
