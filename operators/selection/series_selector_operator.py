"""MR series selection: the candidate brain MR image series of one study, every other series dropped with a reason.

The rules live in `operators.selection.series_selection` (no Holoscan); this operator
turns the SDK's `DICOMStudy` objects into `SeriesInfo` summaries, applies the
rules and starts the run's `StudyState`.
"""

from __future__ import annotations

import logging
import time

from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators.selection.dicom_loader_operator import LoadedInput
from operators.selection.series_info import SeriesInfo, SeriesInfoError, series_info_from_datasets
from operators.selection.series_selection import SelectionRules, select_series
from operators.study_state import SeriesEntry, StudyState
from product.names import MANUFACTURER
from product.outcome import Outcome

logger = logging.getLogger(__name__)


def _entry(info: SeriesInfo) -> SeriesEntry:
    return SeriesEntry(
        series_instance_uid=info.series_instance_uid,
        description=info.series_description,
        series_number=info.series_number,
        modality=info.modality,
        instances=info.number_of_instances,
    )


def _own_output(info: SeriesInfo) -> bool:
    """A series this product wrote (sent back to it by a PACS): its numbers must not push ours up."""
    return (info.manufacturer or "").upper() == MANUFACTURER.upper()


def select_from_loaded(loaded: LoadedInput, rules: SelectionRules = SelectionRules()) -> StudyState:
    """Start the run's state from what the loader read: candidate series kept, the others dropped with a reason."""
    state = StudyState(input_path=str(loaded.input_path), unreadable=list(loaded.unreadable))
    state.duplicates = list(loaded.duplicates)
    state.notes.extend(duplicate.note for duplicate in loaded.duplicates if not duplicate.same_pixels)
    infos: list[SeriesInfo] = []
    datasets = {}
    for study in loaded.studies:
        for series in study.get_all_series():
            instances = [sop.get_native_sop_instance() for sop in series.get_sop_instances()]
            uid = series.SeriesInstanceUID
            try:
                info = series_info_from_datasets(instances)
            except SeriesInfoError as error:
                first = instances[0] if instances else None
                state.series[uid] = SeriesEntry(
                    uid,
                    getattr(first, "SeriesDescription", None),
                    None,
                    getattr(first, "Modality", None),
                    len(instances),
                    "dropped",
                    f"unreadable header: {error}",
                )
                logger.info("series %s dropped: unreadable header: %s", uid, error)
                continue
            infos.append(info)
            datasets[uid] = instances
            state.series[uid] = _entry(info)
    if not loaded.studies:
        what = f"{loaded.files} files, none readable as DICOM" if loaded.files else "no file"
        state.end(Outcome.INPUT_ERROR, f"no DICOM study in {loaded.input_path} ({what})")
        return state
    selection = select_series(infos, rules)
    numbers = [i.series_number for i in infos if i.series_number is not None and not _own_output(i)]
    state.highest_series_number = max(numbers, default=0)
    state.study_instance_uid = selection.study_uid
    for info, reason in selection.dropped:
        entry = state.series[info.series_instance_uid]
        entry.decision, entry.reason = "dropped", reason
    for info in selection.kept:
        state.series[info.series_instance_uid].decision = "candidate"
        state.datasets[info.series_instance_uid] = datasets[info.series_instance_uid]
    state.notes.append(f"{len(selection.kept)} of {len(state.series)} series are candidate brain MR image volumes")
    state.candidates = selection.kept
    state.unusable = selection.unusable
    if not selection.kept:
        state.end(Outcome.INPUT_ERROR, "no candidate brain MR image series in the study (see each series' reason)")
    return state


class SeriesSelectorOperator(Operator):
    """Keeps the candidate brain MR image series of one study (rules: `SelectionRules`).

    Named input:
        loaded: a `LoadedInput` from the loader.
    Named output:
        state: the run's `StudyState`, candidates in `state.candidates`.
    """

    INPUT = "loaded"
    OUTPUT = "state"

    def __init__(self, fragment: Fragment, *args, rules: SelectionRules = SelectionRules(), **kwargs):
        self.rules = rules
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT)
        spec.output(self.OUTPUT)

    def compute(self, op_input, op_output, context) -> None:
        loaded = op_input.receive(self.INPUT)
        start = time.perf_counter()
        state = select_from_loaded(loaded, self.rules)
        state.timings.update(loading=round(loaded.seconds, 3), selection=round(time.perf_counter() - start, 3))
        op_output.emit(state, self.OUTPUT)
