"""Model recipes: the shipped YAML files load, typos are refused, a saved recipe reads back equal."""

from pathlib import Path

import pytest

from models.config import ModelConfig, config_from_dict, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[2] / "models" / "configs"


@pytest.mark.parametrize("name", ["cpu.yaml", "cpu-v2.yaml", "paper-brats.yaml", "wmh.yaml"])
def test_shipped_recipes_load(name):
    config = load_config(CONFIGS / name)
    assert config.data.image_size % 8 == 0


def test_paper_recipe_has_the_reference_schedule_and_sizes():
    config = load_config(CONFIGS / "paper-brats.yaml")
    assert config.diffusion.num_train_timesteps == 1000
    assert (config.diffusion.beta_start, config.diffusion.beta_end) == (0.0015, 0.0195)
    assert config.data.image_size == 192 and config.structure.structure_channels == 256
    assert config.autoencoder.num_embeddings == 8192


def test_unknown_key_is_refused_with_its_name():
    with pytest.raises(ValueError, match="spacing"):
        config_from_dict({"data": {"spacing": 2.0}})


def test_saved_recipe_reads_back_equal(tmp_path):
    config = ModelConfig().replace(latent_scale=0.37, version="9.9.9")
    save_config(config, tmp_path / "model.yaml")
    assert load_config(tmp_path / "model.yaml") == config
