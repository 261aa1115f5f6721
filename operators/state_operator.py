"""The shape every operator after series selection shares: receive the run's state, work if it is active, pass it on."""

from __future__ import annotations

from monai.deploy.core import Operator, OperatorSpec

from operators.study_state import StudyState


class StateOperator(Operator):
    """Receives the `StudyState` on port "state", runs `process` timed as `STAGE` while the run is active, emits it."""

    PORT = "state"
    STAGE = ""

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.PORT)
        spec.output(self.PORT)

    def process(self, state: StudyState) -> None:
        raise NotImplementedError

    def compute(self, op_input, op_output, context) -> None:
        state: StudyState = op_input.receive(self.PORT)
        if state.active:
            with state.stage(self.STAGE):
                self.process(state)
        op_output.emit(state, self.PORT)
