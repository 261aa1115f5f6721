"""What the node writes: the model's default output, or the one the run's `sampler` option names, and the report
says which and whether it is deterministic or a sample."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from models.config import SamplerConfig
from models.synthesis import SynthesisError
from operators.synthesis.synthesis_operator import choose_sampler, describe_sampler


def _model(default: SamplerConfig, has_mean: bool) -> SimpleNamespace:
    """The attributes of a loaded `Synthesizer` that the choice reads (its networks play no part in it)."""
    return SimpleNamespace(
        config=SimpleNamespace(sampler=default), mean=object() if has_mean else None, name="m", version="9"
    )


def test_the_models_default_is_kept_unless_an_option_names_another():
    default = SamplerConfig(kind="mean", steps=1)
    assert choose_sampler(_model(default, True), None, None) == default
    assert choose_sampler(_model(default, True), None, 4) == default, "steps mean nothing to the mean"
    chosen = choose_sampler(_model(default, True), "ddim:10:shared:image", None)
    assert (chosen.kind, chosen.steps, chosen.shared_noise, chosen.image_residual) == ("ddim", 10, True, True)
    assert choose_sampler(_model(default, True), "ddim:10:shared:image", 3).steps == 3
    assert describe_sampler(chosen) == "ddim 10 steps, eta 0, shared noise, added to the mean image"
    assert describe_sampler(choose_sampler(_model(default, True), "onestep:image", None)) == (
        "onestep, added to the mean image"
    )


def test_a_first_generation_model_refuses_the_mean_naming_itself():
    default = SamplerConfig(kind="ddim", steps=20)
    with pytest.raises(SynthesisError, match=r"sampler 'mean' needs a model with a mean network; m 9"):
        choose_sampler(_model(default, False), "mean", None)
    assert choose_sampler(_model(default, False), None, 4).steps == 4
