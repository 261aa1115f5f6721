"""Multi-contrast volume: each chosen series as a volume in patient space, all on one 1 mm RAS grid.

The maths lives in `operators.dicom_volume` (a series to a volume from its
geometry, classic or Enhanced MR) and `operators.volume_assembly` (common
grid, reference series); the SDK's `DICOMSeriesToVolumeOperator` converts
only the first selected series, so this operator does all of them. The
reference series, whose slices the synthetic series will match, is chosen
here among the chosen series stored one slice an instance (the SC writer
writes one instance per reference slice).
"""

from __future__ import annotations

import logging

from monai.deploy.core import Fragment

from operators.dicom_volume import series_volume
from operators.errors import VolumeError
from operators.state_operator import StateOperator
from operators.study_state import Outcome, StudyState
from operators.volume_assembly import choose_reference, common_grid

logger = logging.getLogger(__name__)

GRID_SPACING_MM = 1.0


def assemble_volumes(state: StudyState, spacing_mm: float = GRID_SPACING_MM, allow_different_frames: bool = False):
    """Fill `state.volumes`, `state.reference` and `state.grid`; a geometry fault ends the run as an input error."""
    try:
        volumes = {c: series_volume(state.datasets[uid]) for c, uid in state.chosen.items()}
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
