"""The structure-guided mean: it starts as the regression it was built from, and a missing contrast never enters."""

import pytest
import torch

from models.build import build_guided_mean, build_residual_mean, residual_mean_stage
from models.config import config_from_dict
from models.networks.regression_unet import RegressionMean, regression_inputs
from tests.models.conftest import tiny_kl_recipe


@pytest.fixture(scope="module")
def guided_config():
    recipe = tiny_kl_recipe()
    recipe["structure"]["kind"] = "mean"
    recipe["diffusion"].update(kind="residual", mean_source="guided")
    return config_from_dict(recipe)


def _inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 4, 32, 32, generator=generator) * 2 - 1
    available = torch.tensor([[True, True, True, False], [False, True, False, True]])
    return images, available


def test_at_initialisation_it_is_the_regression_it_was_started_from(guided_config):
    torch.manual_seed(0)
    guided = build_guided_mean(guided_config).eval()
    images, available = _inputs()
    with torch.no_grad():
        plain = guided.network(regression_inputs(images, available)).clamp(-1, 1)
        assert torch.equal(guided.predict(images, available).images, plain)
        # Once the injections are not zero, the structure changes the output.
        for conv in guided.inject:
            conv.weight.normal_(0, 0.1)
        assert not torch.allclose(guided.predict(images, available).images, plain)


def test_a_missing_contrast_cannot_change_the_prediction(guided_config):
    torch.manual_seed(0)
    guided = build_guided_mean(guided_config).eval()
    with torch.no_grad():
        for conv in (*guided.inject, guided.inject_fused):
            conv.weight.normal_(0, 0.1)
        images, available = _inputs()
        scrambled = torch.where(available[:, :, None, None], images, torch.randn_like(images) * 5)
        first, second = guided.predict(images, available), guided.predict(scrambled, available)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.fused, second.fused)
    assert first.fused.shape == (2, guided_config.structure.structure_channels, 4, 4)


def test_each_mean_source_names_its_stage_and_network(guided_config):
    from dataclasses import replace

    assert residual_mean_stage(guided_config) == ("guided", "network")
    unguided = replace(guided_config, diffusion=replace(guided_config.diffusion, mean_source="unguided"))
    assert residual_mean_stage(unguided) == ("unguided", "network")
    assert isinstance(build_residual_mean(unguided), RegressionMean)


def test_an_unknown_mean_source_is_refused_by_name():
    recipe = tiny_kl_recipe()
    recipe["structure"]["kind"] = "mean"
    recipe["diffusion"].update(kind="residual", mean_source="guidedd")
    with pytest.raises(ValueError, match="mean_source 'guidedd' is not one of structure, guided, unguided"):
        config_from_dict(recipe)
