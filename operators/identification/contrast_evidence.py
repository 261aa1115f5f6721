"""The evidence contrast identification weighs: name, sequence, declared-contrast, physics and contrast-agent matches.

Each function applies one kind of rule of `contrast_rules` to one series and
returns what matched, with its weight and a short human-readable text; the
scorer in `contrast_identification` combines them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from operators.identification.contrast_rules import Contrast, ContrastRules, PhysicsRule
from operators.selection.dicom_values import name_text, normalise_text
from operators.selection.series_info import SeriesInfo

logger = logging.getLogger(__name__)

TAGS_EVIDENCE = "contrast agent attributes present"
"""Start of the text of Contrast/Bolus attribute evidence (study-level rules may set it aside)."""


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: its source ("name", "sequence", "declared", "physics"), contrast, weight, text."""

    source: str
    contrast: Contrast
    weight: float
    text: str


def readout(series: SeriesInfo) -> tuple[str, str]:
    """Inversion-recovery state ("yes", "no", "unknown") and readout kind ("SE", "GR", "EP", "unknown").

    Inversion is "yes" when ScanningSequence or ScanOptions hold IR, ImageType
    holds Philips' IR/M_IR, or an InversionTime > 0 is given; "no" when
    ScanningSequence is known without IR (or InversionTime is 0); else unknown.
    """
    scanning = set(series.scanning_sequence)
    ti = series.inversion_time
    if "IR" in scanning or "IR" in series.scan_options or {"IR", "M_IR"} & set(series.image_type) or (ti or 0) > 0:
        inversion = "yes"
    else:
        inversion = "no" if scanning or ti == 0 else "unknown"
    if "EP" in scanning:
        echo = "EP"  # EP\SE is an echo-planar readout (DWI, BOLD, perfusion), not a spin-echo image
    elif "SE" in scanning:
        echo = "SE"
    else:
        echo = "GR" if "GR" in scanning else "unknown"
    return inversion, echo


def _in(value: float | None, bounds: tuple[float | None, float | None] | None) -> bool:
    """Whether `value` lies in [low, high) (None bounds: always; unknown value: never)."""
    if bounds is None:
        return True
    low, high = bounds
    return value is not None and (low is None or value >= low) and (high is None or value < high)


def _fits(rule: PhysicsRule, series: SeriesInfo, inversion: str, echo: str) -> bool:
    """Whether every condition of a physics rule holds for the series."""
    if rule.ti_missing and series.inversion_time:
        return False
    return (
        inversion in rule.inversion
        and echo in rule.echo
        and _in(series.repetition_time, rule.tr)
        and _in(series.echo_time, rule.te)
        and _in(series.inversion_time, rule.ti)
    )


def physics_evidence(series: SeriesInfo, rules: ContrastRules) -> list[Evidence]:
    """Every physics rule the series' TR, TE, TI and readout fit (the values read are named in the text)."""
    inversion, echo = readout(series)
    found = []
    for rule in rules.physics_rules:
        if _fits(rule, series, inversion, echo):
            shown = [("TR", series.repetition_time, rule.tr), ("TE", series.echo_time, rule.te)]
            shown.append(("TI", series.inversion_time, rule.ti))
            params = ", ".join(f"{name} {value:g} ms" for name, value, bounds in shown if bounds and value is not None)
            text = f"{params or f'{echo} readout'}: {rule.label} -> {rule.contrast.value}"
            found.append(Evidence("physics", rule.contrast, rule.weight, text))
    return found


def name_evidence(series: SeriesInfo, rules: ContrastRules) -> list[Evidence]:
    """Evidence from the series' names, sequence name and declared contrast.

    The first matching name rule of SeriesDescription and of ProtocolName, the
    first matching sequence rule of SequenceName, and any contrast that
    AcquisitionContrast or an ImageType value declares.
    """
    found = []
    fields = [("SeriesDescription", series.series_description), ("ProtocolName", series.protocol_name)]
    for tag, value in fields:
        text = name_text(value)
        rule = next((r for r in rules.name_rules if text and re.search(r.pattern, text)), None)
        if rule:
            found.append(
                Evidence("name", rule.contrast, rule.weight, f"{tag} {value!r}: {rule.label} -> {rule.contrast.value}")
            )
    sequence = normalise_text(series.sequence_name).lstrip("*")
    rule = next((r for r in rules.sequence_rules if sequence and re.search(r.pattern, sequence)), None)
    if rule:
        text = f"SequenceName {series.sequence_name!r}: {rule.label} -> {rule.contrast.value}"
        found.append(Evidence("sequence", rule.contrast, rule.weight, text))
    declared = dict(rules.declared)
    for tag, value in [
        ("AcquisitionContrast", series.acquisition_contrast),
        *(("ImageType", v) for v in series.image_type),
    ]:
        if value in declared:
            text = f"{tag} {value}: declared -> {declared[value].value}"
            found.append(Evidence("declared", declared[value], rules.declared_weight, text))
    return found


def enhancement_evidence(
    series: SeriesInfo, rules: ContrastRules
) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Post- and pre-contrast evidence of one series: (weight, text) lists."""
    post, pre = [], []
    w = rules.name_enhancement_weight
    for tag, value in (("SeriesDescription", series.series_description), ("ProtocolName", series.protocol_name)):
        text = name_text(value)
        pre += [(w, f"{tag} {value!r}: pre-contrast word {m.group(0)!r}") for m in re.finditer(rules.pre_words, text)]
        rest = re.sub(rules.pre_words, " ", text)
        post += [
            (w, f"{tag} {value!r}: post-contrast word {m.group(0)!r}") for m in re.finditer(rules.post_words, rest)
        ]
    start, time = series.contrast_bolus_start_time_s, series.acquisition_time_s
    if start is not None and time is not None:
        minutes = (time - start) / 60
        after = (rules.bolus_timing_weight, f"acquired {minutes:.0f} min after ContrastBolusStartTime")
        before = (rules.bolus_timing_weight, f"acquired {-minutes:.0f} min before ContrastBolusStartTime")
        (post if time >= start else pre).append(after if time >= start else before)
    elif series.has_contrast_tags:
        named = [f"{t} {v!r}" for t, v in (("ContrastBolusAgent", series.contrast_bolus_agent),) if v]
        post.append((rules.bolus_tags_weight, f"{TAGS_EVIDENCE} ({', '.join(named) or 'route/start'})"))
    return post, pre
