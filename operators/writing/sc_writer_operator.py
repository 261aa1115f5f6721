"""DICOM secondary-capture writer: one synthetic series per missing contrast, in the source study.

The writing itself is `operators.writing.sc_writer.write_synthetic_series` (highdicom
`SCImage`, geometry and references of the reference series, burned-in label,
whole series folder or nothing). Series numbers follow the study's highest
(this product's own series excluded, so a re-sent study numbers alike), and
UIDs are name-based from the study, the inputs and the model, so a re-run
writes the same UIDs.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from monai.deploy.core import Fragment
from pydicom import dcmread

from operators.state_operator import StateOperator
from operators.study_state import OutputSeries, StudyState
from operators.writing.isotropic_grid import grid_volume_for_writer, isotropic_reference, nearest_acquired
from operators.writing.sc_writer import WriterOptions, write_synthetic_series
from product.errors import ProductError
from product.names import MODEL_NAME
from product.outcome import Outcome

logger = logging.getLogger(__name__)


def write_outputs(state: StudyState, output_dir: Path, options: WriterOptions) -> None:
    """Write every synthetic contrast of `state` into `output_dir`; record the series in `state.outputs`."""
    if options.uid_seed is None:
        options = dataclasses.replace(options, uid_seed=state.study_instance_uid)
    sources = {c: state.datasets[uid] for c, uid in state.chosen.items()}
    isotropic = options.output_grid == "isotropic"
    reference = state.datasets[state.reference]
    source_images = None
    if isotropic:
        acquired, reference = reference, isotropic_reference(reference, state.grid.affine_ras, state.grid.shape)
        source_images = nearest_acquired(reference, acquired)
    for offset, contrast in enumerate(state.missing, start=1):
        number = state.highest_series_number + offset
        volume = grid_volume_for_writer(state.synthetic_on_grid[contrast]) if isotropic else state.synthetic[contrast]
        try:
            paths = write_synthetic_series(
                volume,
                reference,
                contrast,
                output_dir,
                options,
                series_number=number,
                source_series=sources,
                model_name=MODEL_NAME,
                model_version=state.model.get("version", "unknown"),
                source_images=source_images,
            )
        except (ProductError, ValueError) as error:
            state.end(Outcome.INPUT_ERROR, f"cannot write the synthetic {contrast} series: {error}")
            return
        first = paths[0]
        header = dcmread(first, stop_before_pixels=True)
        state.outputs.append(
            OutputSeries(
                contrast=contrast,
                series_instance_uid=header.SeriesInstanceUID,
                series_number=number,
                description=header.SeriesDescription,
                folder=str(first.parent.relative_to(output_dir)),
                instances=len(paths),
            )
        )
    if isotropic:
        state.notes.append(f"output grid: the model's {state.grid.spacing_mm:g} mm isotropic axial grid")
    written = ", ".join(f"{o.description} ({o.instances} instances)" for o in state.outputs)
    state.end(Outcome.SYNTHESIZED, f"{state.scenario}: wrote {written}")


class SCWriterOperator(StateOperator):
    """Writes the synthetic series as DICOM files in the output folder.

    Named input / output:
        state: the run's `StudyState`.
    """

    STAGE = "writing"

    def __init__(self, fragment: Fragment, *args, output_folder: Path, options: WriterOptions, **kwargs):
        self.output_folder, self.options = Path(output_folder), options
        super().__init__(fragment, *args, **kwargs)

    def process(self, state: StudyState) -> None:
        write_outputs(state, self.output_folder, self.options)
