"""Which contrast (T1, T1ce, T2, FLAIR or other) each kept series is, with a confidence and its evidence.

Pure logic on `SeriesInfo` summaries (no Holoscan import). Names (series
description, protocol, sequence name, declared contrast) and physics (TR, TE,
TI and readout) are matched against the rule tables of `contrast_rules` and
combined by one scorer: evidence of each contrast is grouped by source (the
strongest rule of a source counts), sources combine as independent evidence
(1 - prod(1 - w)), the best-scoring contrast wins, and evidence for any other
contrast lowers the confidence and is reported as a conflict. A T1 then
becomes T1CE when its contrast-agent evidence (post words, Contrast/Bolus
attributes, acquisition after the bolus or after a same-kind T1) outweighs
its pre-contrast evidence. `identify_study` is the hook an image-based
classifier will later complement: series it leaves at OTHER with confidence 0
had no usable header evidence.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

from operators.identification import contrast_evidence
from operators.identification.contrast_rules import DEFAULT_RULES, Contrast, ContrastRules
from operators.selection.dicom_values import normalise_text
from operators.selection.series_info import SeriesInfo

logger = logging.getLogger(__name__)

FAMILIES = (Contrast.T1, Contrast.T2, Contrast.FLAIR, Contrast.OTHER)
"""Contrasts the scorer chooses between; T1CE is a T1 with contrast-agent evidence."""

__all__ = ["Choice", "Contrast", "ContrastRules", "Identification", "choose_per_contrast", "identify", "identify_study"]


@dataclass
class Identification:
    """The contrast of one series, how sure the rules are, and why.

    Attributes:
        series: the series identified.
        contrast: its contrast.
        confidence: in [0, 1]; 0 when no header evidence was found.
        evidence: short human-readable reasons, supporting ones first, then conflicts.
        scores: combined evidence of each contrast family (T1 covers T1CE) before conflicts.
    """

    series: SeriesInfo
    contrast: Contrast
    confidence: float
    evidence: list[str] = field(default_factory=list)
    scores: dict[Contrast, float] = field(default_factory=dict)


@dataclass
class _Assessment:
    """A series' contrast family before the T1 / T1CE decision, with its contrast-agent evidence."""

    series: SeriesInfo
    family: Contrast
    confidence: float
    evidence: list[str]
    scores: dict[Contrast, float]
    post: list[tuple[float, str]] = field(default_factory=list)
    pre: list[tuple[float, str]] = field(default_factory=list)
    factor: float = 1.0


def noisy_or(weights: list[float]) -> float:
    """Combined strength of independent pieces of evidence: 1 - prod(1 - w)."""
    return 1.0 - math.prod(1.0 - w for w in weights)


def _assess(series: SeriesInfo, rules: ContrastRules) -> _Assessment:
    """The contrast family of one series from its own headers."""
    evidence = contrast_evidence.name_evidence(series, rules) + contrast_evidence.physics_evidence(series, rules)
    scores = {}
    for contrast in FAMILIES:
        strongest: dict[str, float] = {}
        for e in evidence:
            if e.contrast is contrast:
                strongest[e.source] = max(strongest.get(e.source, 0.0), e.weight)
        scores[contrast] = noisy_or(list(strongest.values()))
    post, pre = contrast_evidence.enhancement_evidence(series, rules)
    if max(scores.values()) == 0.0:
        return _Assessment(series, Contrast.OTHER, 0.0, ["no tag evidence"], scores, post, pre)
    physics = {e.contrast: e.weight for e in evidence if e.source == "physics"}
    family = max(FAMILIES, key=lambda c: (scores[c], physics.get(c, 0.0)))
    conflict = max(scores[c] for c in FAMILIES if c is not family)
    lines = [e.text for e in evidence if e.contrast is family]
    lines += [f"conflict, overruled: {e.text}" for e in evidence if e.contrast is not family]
    return _Assessment(series, family, scores[family] * (1.0 - 0.5 * conflict), lines, scores, post, pre)


def _decide(assessment: _Assessment) -> Identification:
    """T1 or T1CE from the weighed contrast-agent evidence; other families unchanged."""
    a = assessment
    contrast, confidence, evidence = a.family, a.confidence * a.factor, list(a.evidence)
    p, q = noisy_or([w for w, _ in a.post]), noisy_or([w for w, _ in a.pre])
    if a.family is Contrast.T1 and max(p, q) > 0:
        contrast = Contrast.T1CE if p > q else Contrast.T1
        winning, losing = (a.post, a.pre) if p > q else (a.pre, a.post)
        evidence += [text for _, text in winning] + [f"conflict, overruled: {text}" for _, text in losing]
        confidence *= 1.0 - 0.5 * min(p, q) / max(p, q)
    elif p > 0 and a.confidence > 0:
        evidence.append(f"post-contrast evidence does not change a {a.family.value}")
    return Identification(
        a.series, contrast, round(confidence, 3), evidence, {c: round(s, 3) for c, s in a.scores.items()}
    )


def _sequence_family(series: SeriesInfo) -> str | None:
    """The sequence's name without its trailing numbers ("*tfl3d1_16ns" -> "TFL3D"), None when unnamed."""
    words = normalise_text(series.sequence_name).lstrip("*").split()
    return (re.sub(r"\d+$", "", words[0]) or None) if words else None


def same_kind(a: SeriesInfo, b: SeriesInfo) -> bool:
    """Whether two series are the same acquisition (2D/3D and sequence), e.g. a pre- and post-contrast pair."""
    if a.mr_acquisition_type and b.mr_acquisition_type and a.mr_acquisition_type != b.mr_acquisition_type:
        return False
    fa, fb = _sequence_family(a), _sequence_family(b)
    if fa and fb:
        return fa == fb
    if a.scanning_sequence and b.scanning_sequence:
        return a.scanning_sequence == b.scanning_sequence
    if a.repetition_time and b.repetition_time:
        return abs(a.repetition_time - b.repetition_time) <= 0.25 * max(a.repetition_time, b.repetition_time)
    return True


def _in_order(group: list[_Assessment]) -> list[_Assessment] | None:
    """The group in acquisition order (time, else SeriesNumber), None when the order is unknown."""
    if all(a.series.acquisition_key for a in group):
        return sorted(group, key=lambda a: (a.series.acquisition_key, a.series.series_number or 0))
    if all(a.series.series_number is not None for a in group):
        return sorted(group, key=lambda a: a.series.series_number)
    return None


def _apply_study_order(assessments: list[_Assessment], rules: ContrastRules) -> None:
    """Pre/post evidence from acquisition order: of same-kind T1s, the first is pre-contrast, later ones post.

    Applies when any of the group carries contrast-agent attributes or post words;
    without such evidence the group is only flagged as ambiguous (confidence x 0.8).
    Contrast/Bolus attributes present on every series of the group are set aside.
    """
    groups: list[list[_Assessment]] = []
    for a in (a for a in assessments if a.family is Contrast.T1):
        group = next((g for g in groups if same_kind(g[0].series, a.series)), None)
        if group is None:
            groups.append([a])
        else:
            group.append(a)
    for group in groups:
        ordered = _in_order(group) if len(group) > 1 else None
        if ordered is None:
            continue
        first = ordered[0]
        if not any(a.series.has_contrast_tags or a.post for a in ordered):
            for a in ordered:
                a.evidence.append(f"{len(ordered) - 1} other T1 of the same kind, no contrast evidence to order them")
                a.factor *= 0.8
            continue
        if all(a.series.has_contrast_tags for a in ordered):
            # Some scanners copy the agent entered at registration into every series: it cannot tell these apart.
            for a in ordered:
                a.post = [p for p in a.post if not p[1].startswith(contrast_evidence.TAGS_EVIDENCE)]
                a.evidence.append("contrast agent attributes on every same-kind T1: order decides")
        w = rules.study_order_weight
        first.pre.append((w, f"first of {len(ordered)} same-kind T1 series in a study with contrast evidence"))
        for a in ordered[1:]:
            a.post.append((w, f"acquired after {first.series.label}, a T1 of the same kind"))


def _identify_all(series: list[SeriesInfo], rules: ContrastRules) -> list[Identification]:
    assessments = [_assess(s, rules) for s in series]
    _apply_study_order(assessments, rules)
    return [_decide(a) for a in assessments]


def identify_study(series: list[SeriesInfo], rules: ContrastRules = DEFAULT_RULES) -> list[Identification]:
    """Identify the contrast of every series of a study, study-level rules included.

    Args:
        series: the study's candidate series (e.g. `SelectionResult.kept`).
        rules: the rule tables.

    Returns:
        One identification a series, in input order.
    """
    found = _identify_all(series, rules)
    for ident in found:
        logger.info(
            "series %s identified as %s (confidence %.2f): %s",
            ident.series.series_instance_uid,
            ident.contrast.value,
            ident.confidence,
            "; ".join(ident.evidence),
        )
    return found


def identify(
    series: SeriesInfo, study_context: list[SeriesInfo], rules: ContrastRules = DEFAULT_RULES
) -> Identification:
    """Identify the contrast of one series, using the other series of its study for the study-level rules.

    Args:
        series: the series to identify.
        study_context: the study's series (with or without `series` itself).
        rules: the rule tables.

    Returns:
        The identification of `series`, the same as `identify_study` gives it.
    """
    others = [s for s in study_context if s is not series and s.series_instance_uid != series.series_instance_uid]
    ident = _identify_all([series, *others], rules)[0]
    logger.info(
        "series %s identified as %s (confidence %.2f)",
        series.series_instance_uid,
        ident.contrast.value,
        ident.confidence,
    )
    return ident


@dataclass(frozen=True)
class Choice:
    """The series chosen for one contrast, every candidate it was chosen from, and why.

    Attributes:
        contrast: the contrast.
        chosen: the identification of the chosen series.
        candidates: every identification of that contrast, in input order.
        reason: one line naming the chosen series and the runner-up, and the rule that separated them.
    """

    contrast: Contrast
    chosen: Identification
    candidates: tuple[Identification, ...]
    reason: str


def _by_confidence(a: Identification, b: Identification, rules: ContrastRules) -> tuple[int, str]:
    sure_a, sure_b = a.confidence >= rules.confident, b.confidence >= rules.confident
    why = f"confidence {a.confidence:.2f} >= {rules.confident:g} over {b.confidence:.2f}"
    return int(sure_a) - int(sure_b), why


def _by_dimension(a: Identification, b: Identification, rules: ContrastRules) -> tuple[int, str]:
    return int(a.series.is_3d) - int(b.series.is_3d), "3D over 2D"


def _by_voxel(a: Identification, b: Identification, rules: ContrastRules) -> tuple[int, str]:
    va, vb = a.series.voxel_volume_mm3, b.series.voxel_volume_mm3
    if va is None or vb is None or abs(va - vb) <= 0.05 * max(va, vb):
        return 0, ""
    return (1 if va < vb else -1), f"finer voxels ({va:.2f} mm3 vs {vb:.2f} mm3)"


def _by_time(a: Identification, b: Identification, rules: ContrastRules) -> tuple[int, str]:
    ka, kb = a.series.acquisition_key, b.series.acquisition_key
    if ka is None or kb is None:
        ka, kb = a.series.series_number, b.series.series_number
    if ka is None or kb is None or ka == kb:
        return 0, ""
    return (1 if ka > kb else -1), "acquired later"


PREFERENCES = (_by_confidence, _by_dimension, _by_voxel, _by_time)
"""How two candidates for one contrast compare, in order: the first rule that separates them decides."""


def _compare(a: Identification, b: Identification, rules: ContrastRules) -> tuple[int, str]:
    """Positive when `a` is preferred to `b`, with the reason; 0 when no rule separates them."""
    for rule in PREFERENCES:
        order, why = rule(a, b, rules)
        if order:
            return order, why
    return 0, "no rule separates them; kept the first given"


def _named(ident: Identification) -> str:
    s = ident.series
    dimension = f"{s.mr_acquisition_type} " if s.mr_acquisition_type else ""
    return f"{dimension}{s.label}"


def choose_per_contrast(
    identifications: list[Identification], rules: ContrastRules = DEFAULT_RULES
) -> dict[Contrast, Choice]:
    """Choose one series for each of T1, T1CE, T2 and FLAIR among the identified series.

    Between two candidates the first of these rules that separates them decides:
    confident (>= `rules.confident`) over not, 3D over 2D, finer voxel volume
    (in-plane spacing x slice thickness, 5 % tolerance), latest acquisition.

    Args:
        identifications: the study's identifications (OTHER ones are ignored).
        rules: the rule set (for its confidence threshold).

    Returns:
        A choice for each contrast with at least one candidate.
    """
    choices = {}
    for contrast in (Contrast.T1, Contrast.T1CE, Contrast.T2, Contrast.FLAIR):
        candidates = [i for i in identifications if i.contrast is contrast]
        if not candidates:
            continue
        best = candidates[0]
        for other in candidates[1:]:
            best = other if _compare(other, best, rules)[0] > 0 else best
        rest = [c for c in candidates if c is not best]
        if rest:
            runner_up = rest[0]
            for other in rest[1:]:
                runner_up = other if _compare(other, runner_up, rules)[0] > 0 else runner_up
            why = _compare(best, runner_up, rules)[1]
            more = f" ({len(rest) - 1} more candidates)" if len(rest) > 1 else ""
            reason = f"{contrast.name}: chose {_named(best)} over {_named(runner_up)}: {why}{more}"
        else:
            reason = f"{contrast.name}: {_named(best)} is the only candidate"
        choices[contrast] = Choice(contrast, best, tuple(candidates), reason)
        logger.info("series %s chosen: %s", best.series.series_instance_uid, reason)
    return choices
