"""What one run of the graph knows about the study it works on, passed from operator to operator.

Each operator adds its decisions (series dropped or used, contrasts
identified, the scenario, the series written) and its wall time, so that the
last operator can write `report.json` whatever happened upstream: an operator
that meets a fault it can name (a `ProductError`) records it with `fail` and
the operators after it only pass the state on. Arrays and pydicom datasets
stay out of the report; `to_report` holds what a PACS admin reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from operators.selection.dicom_loader_operator import DuplicateInstance
from operators.selection.series_info import SeriesInfo
from operators.volume.dicom_volume import SeriesVolume
from operators.volume.volume_assembly import CommonGrid
from product.outcome import Outcome

logger = logging.getLogger(__name__)

REPORT_VERSION = 1


@dataclass
class SeriesEntry:
    """One input series as the report shows it."""

    series_instance_uid: str
    description: str | None
    series_number: int | None
    modality: str | None
    instances: int
    decision: str = "pending"
    reason: str = ""
    contrast: str | None = None
    confidence: float | None = None
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        entry = {
            "series_instance_uid": self.series_instance_uid,
            "series_number": self.series_number,
            "description": self.description,
            "modality": self.modality,
            "instances": self.instances,
            "decision": self.decision,
            "reason": self.reason,
        }
        if self.contrast is not None:
            entry.update(contrast=self.contrast, confidence=self.confidence, evidence=self.evidence)
        return entry


@dataclass
class OutputSeries:
    """One synthetic series written."""

    contrast: str
    series_instance_uid: str
    series_number: int
    description: str
    folder: str
    instances: int


@dataclass(eq=False)
class StudyState:
    """The study a run works on, its decisions so far and the data the next operator needs.

    Attributes:
        input_path: the folder read.
        study_instance_uid: the study chosen (None until series selection).
        series: every input series by SeriesInstanceUID, in the order met.
        unreadable: (file, reason) for every file that could not be read as DICOM.
        duplicates: every second copy of a SOP Instance (sop_instance_uid, used, ignored, same_pixels).
        datasets: the instances of each candidate series (not reported).
        candidates: the candidate series' summaries, in input order.
        unusable: dropped series that are acquisitions the node cannot use (geometry, extent, Modality),
            with the drop reason: identified from their tags so that their contrast is not synthesized.
        chosen: contrast key (t1, t1ce, t2, flair) -> SeriesInstanceUID of the series used for it.
        acquired_unusable: contrast key -> SeriesInstanceUID of the unusable series that holds it, for contrasts
            the study holds only in unusable series.
        missing: contrasts to synthesize.
        scenario: e.g. "t1+t1ce+t2 -> flair".
        series_volumes: volumes built while identifying by image (by SeriesInstanceUID), kept for the chosen
            series only, so that volume assembly takes them instead of decoding those series again.
        volumes, reference, grid, synthetic: the data between volume assembly, synthesis and writing.
        outputs: the series written.
        model: name, version, folder and device of the model used.
        timings: wall seconds per stage.
        outcome, reason: how the run ended and why.
        notes: further lines for the report (e.g. the reference series choice).
    """

    input_path: str
    study_instance_uid: str | None = None
    series: dict[str, SeriesEntry] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[DuplicateInstance] = field(default_factory=list)
    datasets: dict[str, list[Dataset]] = field(default_factory=dict)
    candidates: list[SeriesInfo] = field(default_factory=list)
    unusable: list[tuple[SeriesInfo, str]] = field(default_factory=list)
    chosen: dict[str, str] = field(default_factory=dict)
    acquired_unusable: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    scenario: str | None = None
    series_volumes: dict[str, SeriesVolume] = field(default_factory=dict)
    volumes: dict[str, SeriesVolume] = field(default_factory=dict)
    reference: str | None = None
    reference_contrast: str | None = None
    highest_series_number: int = 0
    grid: CommonGrid | None = None
    synthetic: dict[str, np.ndarray] = field(default_factory=dict)
    synthetic_on_grid: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int | None = None
    outputs: list[OutputSeries] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    outcome: Outcome = Outcome.RUNNING
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """True while no operator has ended the run (failed, skipped or dry run)."""
        return self.outcome is Outcome.RUNNING

    @property
    def present(self) -> list[str]:
        return list(self.chosen)

    def end(self, outcome: Outcome, reason: str) -> None:
        """End the run: the operators after this one only pass the state on."""
        if not self.active:
            return
        self.outcome, self.reason = outcome, reason
        log = logger.info if outcome.exit_code == 0 else logger.error
        log("study %s: %s: %s", self.study_instance_uid or self.input_path, outcome.value, reason)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage into `timings`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)

    def to_report(self) -> dict[str, Any]:
        """The JSON-ready report: outcome, reason, series decisions, scenario, model, outputs, timings."""
        return {
            "report_version": REPORT_VERSION,
            "outcome": self.outcome.value,
            "exit_code": self.outcome.exit_code,
            "reason": self.reason,
            "input": self.input_path,
            "study_instance_uid": self.study_instance_uid,
            "series": [entry.as_dict() for entry in self.series.values()],
            "unreadable_files": [{"file": f, "reason": r} for f, r in self.unreadable],
            "duplicate_instances": [asdict(duplicate) for duplicate in self.duplicates],
            "contrasts_present": {c: self.chosen[c] for c in self.chosen},
            "contrasts_missing": self.missing,
            "contrasts_acquired_unusable": dict(self.acquired_unusable),
            "scenario": self.scenario,
            "reference_series": self.reference,
            "reference_contrast": self.reference_contrast,
            "seed": self.seed,
            "model": self.model,
            "outputs": [vars(o) for o in self.outputs],
            "notes": self.notes,
            "timings_s": self.timings,
        }
