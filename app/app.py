"""The operator graph: a folder of DICOM files in, synthetic secondary-capture series and a report out.

    loader -> series selection -> contrast identification -> multi-contrast volume
           -> MSG-LDM inference -> SC writer -> report.json + preview.png

A dry run stops after identification (no model is loaded) and reports what
would be done. Every operator passes the run's `StudyState` on, so the report
is written whatever happened; `final_state` holds it after `run()`.
On two CPU cores a whole-head study takes about a minute with the default
sampler (bench/ has the numbers).
"""

from __future__ import annotations

import logging
from pathlib import Path

from holoscan.conditions import CountCondition
from monai.deploy.core import Application

from app.run_options import RunOptions
from operators.identification.contrast_identifier_operator import ContrastIdentifierOperator
from operators.selection.dicom_loader_operator import StudyLoaderOperator
from operators.selection.series_selector_operator import SeriesSelectorOperator
from operators.study_state import StudyState
from operators.synthesis.synthesis_operator import SynthesisOperator
from operators.volume.volume_assembly_operator import VolumeAssemblyOperator
from operators.writing.report_writer_operator import ReportWriterOperator
from operators.writing.sc_writer import WriterOptions
from operators.writing.sc_writer_operator import SCWriterOperator

logger = logging.getLogger(__name__)


class ContrastSynthesisApp(Application):
    """Synthesizes the missing ones of T1, T1ce, T2 and FLAIR in a brain MR study with MSG-LDM.

    Construct with the MONAI Deploy argument list (`[sys.executable, "app", "-i", IN, "-o", OUT, "-m", MODEL]`)
    and `RunOptions`; `run()` may be called once per instance, several instances per process (the model stays
    loaded between them).
    """

    def __init__(self, argv: list[str] | None = None, options: RunOptions | None = None, *args, **kwargs):
        super().__init__(argv, *args, **kwargs)
        self.run_options = options or RunOptions()
        self._report: ReportWriterOperator | None = None

    @property
    def final_state(self) -> StudyState | None:
        """The run's state as the report writer got it (None before `run()` or if the graph broke first)."""
        return self._report.final_state if self._report is not None else None

    def compose(self) -> None:
        context = Application.init_app_context(self.argv)
        options = self.run_options
        output = Path(context.output_path)
        source = Path(context.input_path)
        loader = StudyLoaderOperator(self, CountCondition(self, 1), input_folder=source, name="loader")
        selector = SeriesSelectorOperator(self, name="series_selection")
        identifier = ContrastIdentifierOperator(
            self,
            min_present=options.min_present,
            synthesize_unusable=options.synthesize_unusable,
            name="contrast_identification",
        )
        self._report = ReportWriterOperator(self, output_folder=output, dry_run=options.dry_run, name="report")
        self.add_flow(loader, selector, {(StudyLoaderOperator.OUTPUT, SeriesSelectorOperator.INPUT)})
        self.add_flow(selector, identifier, {(SeriesSelectorOperator.OUTPUT, ContrastIdentifierOperator.PORT)})
        if options.dry_run:
            self.add_flow(identifier, self._report, {(ContrastIdentifierOperator.PORT, ReportWriterOperator.PORT)})
            return
        volumes = VolumeAssemblyOperator(
            self, allow_different_frames=options.allow_different_frames, name="multi_contrast_volume"
        )
        synthesis = SynthesisOperator(
            self,
            model_path=Path(context.model_path),
            device=options.device,
            sampler=options.sampler,
            sampler_steps=options.sampler_steps,
            name="msgldm_inference",
        )
        writer_options = WriterOptions(
            burn_label=options.burn_label, sop_class=options.sop_class, output_grid=options.output_grid
        )
        writer = SCWriterOperator(self, output_folder=output, options=writer_options, name="sc_writer")
        self.add_flow(identifier, volumes, {(ContrastIdentifierOperator.PORT, VolumeAssemblyOperator.PORT)})
        self.add_flow(volumes, synthesis, {(VolumeAssemblyOperator.PORT, SynthesisOperator.PORT)})
        self.add_flow(synthesis, writer, {(SynthesisOperator.PORT, SCWriterOperator.PORT)})
        self.add_flow(writer, self._report, {(SCWriterOperator.PORT, ReportWriterOperator.PORT)})
