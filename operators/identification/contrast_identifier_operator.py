"""Contrast identification: each candidate series labelled T1, T1ce, T2, FLAIR or other, one series chosen per contrast.

The rules live in `operators.identification.contrast_identification` (names across vendors,
physics, contrast agent, study order), with `operators.identification.contrast_from_image`
for series whose tags say nothing; this operator records every decision
in the run's state and settles the scenario (what is present, what to
synthesize), so that a dry run reports it without loading the model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment

from operators.identification.contrast_from_image import DEFAULT_CLASSIFIER, identify_from_images, needs_image_check
from operators.identification.contrast_identification import Contrast, choose_per_contrast, identify, identify_study
from operators.identification.contrast_rules import DEFAULT_RULES, ContrastRules
from operators.identification.scenario import decide_scenario
from operators.state_operator import StateOperator
from operators.study_state import StudyState
from product.choices import DEFAULT_MIN_PRESENT
from product.outcome import Outcome

logger = logging.getLogger(__name__)


def _acquired_unusable(state: StudyState, rules: ContrastRules, synthesize_unusable: bool) -> dict[str, str]:
    """Contrasts the study holds only in dropped-but-acquired series (tags alone decide), contrast -> series UID.

    Only confident identifications count: a weak guess must not stop a synthesis. Each decision is a note in
    the report and a log line, and the series' entry gets its contrast and evidence.
    """
    if not state.unusable:
        return {}
    infos = [info for info, _ in state.unusable]
    found: dict[str, str] = {}
    for ident in (identify(info, [*infos, *state.candidates], rules) for info in infos):
        uid = ident.series.series_instance_uid
        entry = state.series[uid]
        if ident.contrast is Contrast.OTHER:
            continue
        entry.contrast, entry.evidence, entry.confidence = (
            ident.contrast.value,
            ident.evidence,
            round(ident.confidence, 3),
        )
        key, name = ident.contrast.value, ident.contrast.name
        if key in state.chosen or key in found:
            continue
        if ident.confidence < rules.confident:
            note = (
                f"{ident.series.label} may be {name} (confidence {ident.confidence:.2f}, below {rules.confident}) "
                f"but is unusable ({entry.reason}): {name} is treated as missing"
            )
        elif synthesize_unusable:
            note = f"{name} acquired in {ident.series.label} but unusable: {entry.reason}; synthesized as asked"
        else:
            found[key] = uid
            note = (
                f"{name} acquired in {ident.series.label} but unusable: {entry.reason}; not synthesized "
                "(option synthesize_unusable to synthesize it)"
            )
        state.notes.append(note)
        logger.info("study %s: %s", state.study_instance_uid, note)
    return found


def identify_contrasts(
    state: StudyState,
    rules: ContrastRules = DEFAULT_RULES,
    min_present: int = DEFAULT_MIN_PRESENT,
    classifier_folder: Path | None = DEFAULT_CLASSIFIER,
    synthesize_unusable: bool = False,
) -> None:
    """Identify the candidates of `state`, choose a series per contrast and decide the scenario, in place.

    Series whose tags carry no contrast evidence are classified from their pixels when `classifier_folder`
    holds the image classifier (None turns the image check off). A contrast held only by a series that was
    dropped as unusable (geometry, extent, Modality) is not synthesized unless `synthesize_unusable`.
    """
    identifications = identify_study(state.candidates, rules)
    if classifier_folder is not None and Path(classifier_folder).is_dir():
        identifications = identify_from_images(
            identifications, state.datasets, Path(classifier_folder), built=state.series_volumes
        )
    else:
        for ident in filter(needs_image_check, identifications):
            ident.evidence.append(f"image check unavailable (no classifier at {classifier_folder})")
    choices = choose_per_contrast(identifications, rules)
    chosen_uids = {choice.chosen.series.series_instance_uid: c for c, choice in choices.items()}
    for ident in identifications:
        entry = state.series[ident.series.series_instance_uid]
        entry.contrast, entry.evidence = ident.contrast.value, ident.evidence
        entry.confidence = round(ident.confidence, 3)
        if ident.contrast is Contrast.OTHER:
            entry.decision, entry.reason = "not used", "not identified as T1, T1ce, T2 or FLAIR"
        elif ident.series.series_instance_uid in chosen_uids:
            entry.decision, entry.reason = f"used as {ident.contrast.value}", choices[ident.contrast].reason
            if ident.confidence < rules.confident:
                note = (
                    f"{ident.contrast.name}: {ident.series.label} used with low confidence {ident.confidence:.2f} "
                    f"(below {rules.confident}): {'; '.join(ident.evidence[:2]) or 'no evidence'}; check it"
                )
                state.notes.append(note)
                logger.warning("study %s: %s", state.study_instance_uid, note)
        else:
            entry.decision, entry.reason = "not used", choices[ident.contrast].reason
    state.chosen = {
        c.value: choices[c].chosen.series.series_instance_uid
        for c in (Contrast.T1, Contrast.T1CE, Contrast.T2, Contrast.FLAIR)
        if c in choices
    }
    state.series_volumes = {uid: v for uid, v in state.series_volumes.items() if uid in state.chosen.values()}
    state.acquired_unusable = _acquired_unusable(state, rules, synthesize_unusable)
    scenario = decide_scenario(
        list(state.chosen), min_present=min_present, acquired_unusable=list(state.acquired_unusable)
    )
    state.scenario = scenario.name
    state.missing = list(scenario.missing) if scenario.skip_reason is None else []
    logger.info("study %s: scenario %s", state.study_instance_uid, scenario.name)
    if scenario.skip_reason:
        state.end(Outcome.SKIPPED, scenario.skip_reason)


class ContrastIdentifierOperator(StateOperator):
    """Labels each candidate series' contrast and settles the scenario.

    Named input / output:
        state: the run's `StudyState`.
    """

    STAGE = "identification"

    def __init__(
        self,
        fragment: Fragment,
        *args,
        rules: ContrastRules = DEFAULT_RULES,
        min_present: int = DEFAULT_MIN_PRESENT,
        classifier_folder: Path | None = DEFAULT_CLASSIFIER,
        synthesize_unusable: bool = False,
        **kwargs,
    ):
        self.rules, self.min_present, self.classifier_folder = rules, min_present, classifier_folder
        self.synthesize_unusable = synthesize_unusable
        super().__init__(fragment, *args, **kwargs)

    def process(self, state: StudyState) -> None:
        identify_contrasts(state, self.rules, self.min_present, self.classifier_folder, self.synthesize_unusable)
