"""MSG-LDM inference: the missing contrasts on the common grid, then on the reference series' geometry.

The model is loaded once per process (`models.synthesis.Synthesizer.load`
caches it by folder and device), on the GPU when there is one, else on the
CPU with every core. The sampling seed comes from the study and the series
used, so processing the same study again gives the same pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import torch
from monai.deploy.core import Fragment

from models.config import SamplerConfig
from models.sampler_spec import parse_samplers
from models.synthesis import SynthesisError, Synthesizer
from operators.state_operator import StateOperator
from operators.study_state import StudyState
from operators.volume.volume_assembly import to_common_grid, to_reference_geometry
from product.outcome import Outcome

logger = logging.getLogger(__name__)


def study_seed(state: StudyState) -> int:
    """A sampling seed fixed by the study and the series used for each contrast (31 bits)."""
    key = "|".join([state.study_instance_uid or "", *(f"{c}={u}" for c, u in sorted(state.chosen.items()))])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") >> 1


def load_model(model_path: Path, device: str | None = None) -> Synthesizer:
    """The model of `model_path`, loaded once per process; CPU inference gets every core."""
    synthesizer = Synthesizer.load(Path(model_path), device)
    if synthesizer.device.type == "cpu" and torch.get_num_threads() < (os.cpu_count() or 1):
        torch.set_num_threads(os.cpu_count() or 1)
    return synthesizer


def describe_sampler(sampler: SamplerConfig) -> str:
    """How the report names what was written, e.g. "ddim 10 steps, eta 0, shared noise, added to the mean"."""
    parts = [f"{sampler.kind} {sampler.steps} steps, eta {sampler.eta:g}" if sampler.kind == "ddim" else sampler.kind]
    if sampler.kind == "ddim" and sampler.shared_noise:
        parts.append("shared noise")
    if sampler.image_residual and sampler.kind != "mean":
        parts.append("added to the mean image")
    return ", ".join(parts)


def choose_sampler(synthesizer: Synthesizer, sampler: str | None, sampler_steps: int | None) -> SamplerConfig:
    """The model's default sampler, or the one `sampler` names, with `sampler_steps` applied."""
    chosen = synthesizer.config.sampler
    if sampler is not None:
        (chosen,) = parse_samplers(sampler, chosen)
        if chosen.kind in ("mean", "onestep") and synthesizer.mean is None:
            raise SynthesisError(
                f"sampler {sampler!r} needs a model with a mean network; {synthesizer.name} {synthesizer.version} "
                "has none (use ddim:N)"
            )
    if sampler_steps is not None and chosen.kind in ("ddim", "ddpm"):
        chosen = dataclasses.replace(chosen, steps=sampler_steps)
    return chosen


def synthesize_missing(
    state: StudyState,
    model_path: Path,
    device: str | None = None,
    sampler_steps: int | None = None,
    sampler: str | None = None,
) -> None:
    """Fill `state.synthetic` (reference geometry, [0, 1]) and `state.synthetic_on_grid`; faults end the run.

    `sampler` replaces the model's default output (`app.run_options.RunOptions.sampler`); `sampler_steps`
    overrides its number of DDIM steps (fewer: faster, rougher). The report says which was written and whether
    it is the deterministic output or a sample.
    """
    try:
        synthesizer = load_model(model_path, device)
    except (SynthesisError, OSError, RuntimeError, KeyError, ValueError) as error:
        state.end(Outcome.MODEL_ERROR, f"cannot load the model from {model_path}: {error}")
        return
    try:
        chosen = choose_sampler(synthesizer, sampler, sampler_steps)
    except SynthesisError as error:
        state.end(Outcome.MODEL_ERROR, str(error))
        return
    state.model = {
        "name": synthesizer.name,
        "version": synthesizer.version,
        "path": str(model_path),
        "device": str(synthesizer.device),
        "sampler": describe_sampler(chosen),
        "output": "deterministic" if chosen.kind in ("mean", "onestep") else "sample",
    }
    state.seed = study_seed(state)
    grid = state.grid
    present = {c: grid.volumes[c] for c in state.chosen}
    try:
        on_model_grid, model_affine = synthesizer.synthesize_on_model_grid(
            present, grid.affine_ras, state.missing, seed=state.seed, sampler=chosen
        )
    except SynthesisError as error:
        state.end(Outcome.MODEL_ERROR, f"model {synthesizer.name} {synthesizer.version} refused the study: {error}")
        return
    reference = state.volumes[state.reference_contrast]
    # Each output is sampled once from the model grid: on the reference series for the DICOM series, and on the
    # common grid (beside the acquired contrasts) for the preview and the isotropic output.
    state.synthetic = {c: to_reference_geometry(v, model_affine, reference) for c, v in on_model_grid.items()}
    state.synthetic_on_grid = {c: to_common_grid(v, model_affine, grid) for c, v in on_model_grid.items()}
    logger.info(
        "study %s: synthesized %s with %s %s on %s (seed %d)",
        state.study_instance_uid,
        ", ".join(state.missing),
        synthesizer.name,
        synthesizer.version,
        synthesizer.device,
        state.seed,
    )


class SynthesisOperator(StateOperator):
    """Runs MSG-LDM for the study's scenario.

    Named input / output:
        state: the run's `StudyState`.
    """

    STAGE = "synthesis"

    def __init__(
        self,
        fragment: Fragment,
        *args,
        model_path: Path,
        device: str | None = None,
        sampler_steps: int | None = None,
        sampler: str | None = None,
        **kwargs,
    ):
        self.model_path, self.device, self.sampler_steps = Path(model_path), device, sampler_steps
        self.sampler = sampler
        super().__init__(fragment, *args, **kwargs)

    def process(self, state: StudyState) -> None:
        synthesize_missing(state, self.model_path, self.device, self.sampler_steps, self.sampler)
