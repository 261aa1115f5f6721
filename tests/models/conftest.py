"""Shared builders for the model tests: tiny simulated data sets and a tiny model recipe."""

import copy
from pathlib import Path

import pytest
import torch

from models.config import config_from_dict

TINY_RECIPE = {
    "name": "tiny",
    "version": "0.0.0-test",
    "data": {"image_size": 64, "spacing_mm": 3.5},
    "autoencoder": {"channels": [16, 16, 16, 16], "num_embeddings": 64, "norm_num_groups": 8},
    "structure": {"base_channels": 4, "structure_channels": 16, "decoder_channels": 16, "style_channels": 4},
    "diffusion": {"channels": [32, 32, 32], "attention_levels": [False, False, True], "num_head_channels": 8},
    "sampler": {"steps": 5, "batch_size": 16},
    "training": {
        "autoencoder": {"steps": 40, "batch_size": 8, "learning_rate": 0.002, "log_every": 10, "checkpoint_every": 20},
        "structure": {"steps": 10, "batch_size": 4, "learning_rate": 0.001, "log_every": 5, "checkpoint_every": 10},
        "diffusion": {
            "steps": 40,
            "batch_size": 16,
            "learning_rate": 0.002,
            "log_every": 10,
            "checkpoint_every": 20,
            "ema_decay": 0.9,
        },
        "regression": {"steps": 30, "batch_size": 8, "learning_rate": 0.003, "log_every": 10, "checkpoint_every": 15},
        "disc_start": 1000,
        "validation_fraction": 0.2,
        "test_fraction": 0.2,
    },
}


def tiny_kl_recipe() -> dict:
    """The tiny recipe with the second generation's brain scaling and f = 4 KL autoencoder."""
    recipe = copy.deepcopy(TINY_RECIPE)
    recipe["data"].update(intensity_reference="brain")
    recipe["autoencoder"] = {
        "kind": "kl",
        "channels": [8, 16, 16],
        "latent_channels": 4,
        "norm_num_groups": 8,
        "train_crop": 32,
    }
    recipe["training"]["autoencoder"] = {
        "steps": 20,
        "batch_size": 8,
        "learning_rate": 0.003,
        "log_every": 5,
        "checkpoint_every": 10,
        "warmup_steps": 5,
        "cosine_decay": True,
        "ema_decay": 0.9,
    }
    return recipe


@pytest.fixture(scope="session")
def tiny_config():
    return config_from_dict(TINY_RECIPE)


@pytest.fixture(scope="session")
def brats_folder(tmp_path_factory) -> Path:
    """Three skull-stripped BraTS-layout subjects (the third healthy-free: gliomas), simulated once per session."""
    from simulation.datasets import write_brats_dataset

    root = tmp_path_factory.mktemp("brats")
    write_brats_dataset(root, subjects=3, seed=123, whole_head=False, workers=2)
    return root


@pytest.fixture(scope="session")
def wmh_folder(tmp_path_factory) -> Path:
    from simulation.datasets import write_wmh_dataset

    root = tmp_path_factory.mktemp("wmh")
    write_wmh_dataset(root, subjects=2, seed=321, whole_head=False, workers=2)
    return root


@pytest.fixture
def single_thread():
    """Run on one thread: tiny networks gain nothing from two, and two threads spin badly when other
    processes share the CPU (a 5x slowdown measured here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
