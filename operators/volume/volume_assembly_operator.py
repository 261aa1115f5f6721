"""Multi-contrast volume: each chosen series as a volume in patient space, all on one 1 mm RAS grid.

The maths lives in `operators.volume.dicom_volume` (a series to a volume from its
geometry, classic or Enhanced MR) and `operators.volume.volume_assembly` (common
grid, reference series); the SDK's `DICOMSeriesToVolumeOperator` converts
only the first selected series, so this operator does all of them. The
reference series, whose slices the synthetic series will match, is chosen
here among the chosen series stored one slice an instance (the SC writer
writes one instance per reference slice).
"""

from __future__ import annotations

import logging

from monai.deploy.core import Fragment
from pydicom.dataset import Dataset

from operators.errors import VolumeError
from operators.selection import dicom_values as values
from operators.selection.series_info import echo_times
from operators.state_operator import StateOperator
from operators.study_state import StudyState
from operators.volume.dicom_volume import series_volume
from operators.volume.volume_assembly import choose_reference, common_grid
from product.outcome import Outcome

logger = logging.getLogger(__name__)

GRID_SPACING_MM = 1.0


def latest_echo(datasets: list[Dataset]) -> list[Dataset]:
    """The instances of a multi-echo series' longest echo (a PD/T2 dual echo's T2), or all of them."""
    echoes = echo_times(datasets)
    if len(echoes) < 2:
        return datasets
    return [ds for ds in datasets if values.as_float(ds.get("EchoTime")) == echoes[-1]]


def assemble_volumes(state: StudyState, spacing_mm: float = GRID_SPACING_MM, allow_different_frames: bool = False):
    """Fill `state.volumes`, `state.reference` and `state.grid`; a geometry fault ends the run as an input error."""
    try:
        volumes = {}
        for contrast, uid in state.chosen.items():
            datasets = latest_echo(state.datasets[uid])
            built = state.series_volumes.pop(uid, None)  # decoded already by the image check
            if len(datasets) < len(state.datasets[uid]):
                built = None
                note = (
                    f"{contrast}: series {uid} holds {len(echo_times(state.datasets[uid]))} echoes; its longest "
                    f"(EchoTime {echo_times(datasets)[0]:g} ms, {len(datasets)} images) is used"
                )
                state.notes.append(note)
                logger.info("study %s: %s", state.study_instance_uid, note)
                state.datasets[uid] = datasets
            volumes[contrast] = built if built is not None else series_volume(datasets)
        single_frame = {c: v for c, v in volumes.items() if len(state.datasets[state.chosen[c]]) == v.shape[2]}
        if not single_frame:
            raise VolumeError(
                "no chosen series is stored one slice per instance: the synthetic series need such a series as "
                f"their geometry reference (chosen: {', '.join(v.label for v in volumes.values())})"
            )
        reference = choose_reference(single_frame)
        grid = common_grid(volumes, spacing_mm, allow_different_frames=allow_different_frames)
    except VolumeError as error:
        state.end(Outcome.INPUT_ERROR, str(error))
        return
    state.volumes, state.grid = volumes, grid
    state.reference = state.chosen[reference]
    state.reference_contrast = str(reference)
    state.notes.append(f"reference series: {reference.reason}")
    logger.info("study %s: reference series %s", state.study_instance_uid, reference.reason)


class VolumeAssemblyOperator(StateOperator):
    """Builds the chosen series' volumes on one common grid and picks the reference series.

    Named input / output:
        state: the run's `StudyState`.
    """

    STAGE = "volumes"

    def __init__(
        self,
        fragment: Fragment,
        *args,
        spacing_mm: float = GRID_SPACING_MM,
        allow_different_frames: bool = False,
        **kwargs,
    ):
        self.spacing_mm, self.allow_different_frames = spacing_mm, allow_different_frames
        super().__init__(fragment, *args, **kwargs)

    def process(self, state: StudyState) -> None:
        assemble_volumes(state, self.spacing_mm, self.allow_different_frames)
