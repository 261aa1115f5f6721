"""The second-generation first stage: a continuous f = 4 autoencoder trained on brain-centred crops."""

import pytest
import torch

from models.config import config_from_dict
from models.training.kl_autoencoder_stage import KLAutoencoderStage, brain_crops
from tests.models.conftest import tiny_kl_recipe


@pytest.fixture(scope="module")
def kl_config():
    recipe = tiny_kl_recipe()
    return config_from_dict(recipe)


def test_latents_are_a_quarter_of_the_grid(kl_config):
    stage = KLAutoencoderStage(kl_config)
    z = stage.autoencoder.encode(torch.zeros(2, 1, 64, 64))
    assert z.shape == (2, 4, 16, 16) and stage.autoencoder.downsample_factor == 4
    assert stage.autoencoder.decode(z).shape == (2, 1, 64, 64)


def test_crops_are_centred_on_the_brain():
    x = torch.arange(64 * 64, dtype=torch.float32).reshape(1, 1, 64, 64)
    brain = torch.zeros(1, 64, 64)
    brain[0, 50, 10] = 1
    crop, weights = brain_crops(x, torch.ones_like(x), brain, 16, torch.Generator().manual_seed(0))
    assert crop.shape == weights.shape == (1, 1, 16, 16)
    assert crop[0, 0, 8, 8] == x[0, 0, 50, 10]
