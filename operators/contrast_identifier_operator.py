"""Contrast identification: each candidate series labelled T1, T1ce, T2, FLAIR or other, one series chosen per contrast.

The rules live in `operators.contrast_identification` (names across vendors,
physics, contrast agent, study order), with `operators.contrast_from_image`
for series whose tags say nothing; this operator records every decision
in the run's state and settles the scenario (what is present, what to
synthesize), so that a dry run reports it without loading the model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment

from operators.contrast_from_image import DEFAULT_CLASSIFIER, identify_from_images, needs_image_check
from operators.contrast_identification import Contrast, choose_per_contrast, identify_study
from operators.contrast_rules import DEFAULT_RULES, ContrastRules
from operators.scenario import DEFAULT_MIN_PRESENT, decide_scenario
from operators.state_operator import StateOperator
from operators.study_state import Outcome, StudyState

logger = logging.getLogger(__name__)


def identify_contrasts(
    state: StudyState,
    rules: ContrastRules = DEFAULT_RULES,
    min_present: int = DEFAULT_MIN_PRESENT,
    classifier_folder: Path | None = DEFAULT_CLASSIFIER,
) -> None:
    """Identify the candidates of `state`, choose a series per contrast and decide the scenario, in place.

    Series whose tags carry no contrast evidence are classified from their pixels when `classifier_folder`
    holds the image classifier (None turns the image check off).
    """
    identifications = identify_study(state.candidates, rules)
    if classifier_folder is not None and Path(classifier_folder).is_dir():
        identifications = identify_from_images(identifications, state.datasets, Path(classifier_folder))
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
        else:
            entry.decision, entry.reason = "not used", choices[ident.contrast].reason
    state.chosen = {
        c.value: choices[c].chosen.series.series_instance_uid
        for c in (Contrast.T1, Contrast.T1CE, Contrast.T2, Contrast.FLAIR)
        if c in choices
    }
    scenario = decide_scenario(list(state.chosen), min_present=min_present)
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
        **kwargs,
    ):
        self.rules, self.min_present, self.classifier_folder = rules, min_present, classifier_folder
        super().__init__(fragment, *args, **kwargs)

    def process(self, state: StudyState) -> None:
        identify_contrasts(state, self.rules, self.min_present, self.classifier_folder)
