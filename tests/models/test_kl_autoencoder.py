"""The second-generation first stage: a continuous f = 4 autoencoder, its round trip, and runs that span sessions."""

import copy
import csv
import json

import pytest
import torch

from models.config import config_from_dict, save_config
from models.evaluate_autoencoder import main as evaluate_autoencoder
from models.train import train_stage
from models.training.kl_autoencoder_stage import KLAutoencoderStage, brain_crops
from models.training.loop import RESUME, train_loop
from models.training.run import open_run
from models.training.snapshot import resume_from_snapshot, write_snapshot
from tests.models.conftest import TINY_RECIPE


@pytest.fixture(scope="module")
def kl_config():
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
    return config_from_dict(recipe)


@pytest.fixture(scope="module")
def kl_run(kl_config, brats_folder, tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("klrun")
    save_config(kl_config, root / "recipe.yaml")
    run = open_run(root / "run", brats_folder, "brats", root / "recipe.yaml")
    summary = train_stage(run, "autoencoder")
    return run, summary


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


def test_training_lowers_the_loss_and_validates_inside_the_brain(kl_run):
    run, summary = kl_run
    assert summary["finished"] and summary["step"] == 20
    with open(run.root / "autoencoder" / "train.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["l1"]) < 0.7 * float(rows[0]["l1"])
    with open(run.root / "autoencoder" / "validation.csv") as f:
        validation = list(csv.DictReader(f))
    assert len(validation) == 2 and all(0 < float(r["brain_psnr"]) < 60 for r in validation)
    assert all(-1 <= float(r["brain_ssim"]) <= 1 for r in validation)
    assert json.loads((run.root / "autoencoder" / "latent_scale.json").read_text())["latent_scale"] > 0


def test_round_trip_is_scored_against_a_bicubic_code_of_the_same_size(kl_run, brats_folder, tmp_path, capsys):
    run, _ = kl_run
    assert evaluate_autoencoder(["--run", str(run.root), "--data", str(brats_folder), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "autoencoder.json").read_text())
    assert set(result["summary"]) == {"autoencoder", "bicubic-2x"}
    assert 0 < result["summary"]["autoencoder"]["all"]["psnr"] < 60
    assert "| autoencoder |" in (tmp_path / "autoencoder.md").read_text()


def test_a_snapshot_resumes_in_a_new_run_folder(kl_config, kl_run, brats_folder, tmp_path):
    run, _ = kl_run
    stage = KLAutoencoderStage(kl_config, seed=1)
    first = run.root / "partial"
    training = kl_config.training.autoencoder
    from dataclasses import replace

    train_loop(stage, first, replace(training, steps=10), run.bank("train"), None, seed=1)
    # A snapshot is taken of a run whose stage folder is named after the stage.
    snapshot_source = tmp_path / "source"
    (snapshot_source / "autoencoder").mkdir(parents=True)
    for name in ("config.yaml", "split.json"):
        (snapshot_source / name).write_bytes((run.root / name).read_bytes())
    (snapshot_source / "autoencoder" / "checkpoint.pt").write_bytes((first / "checkpoint.pt").read_bytes())
    assert write_snapshot(snapshot_source, tmp_path / "snapshot") == ["autoencoder"]
    saved = torch.load(tmp_path / "snapshot" / "autoencoder" / RESUME, weights_only=True)
    assert saved["step"] == 10 and "optimizers" not in saved
    assert all(v.dtype == torch.float16 for v in saved["modules"]["ema"].values() if v.is_floating_point())

    resumed_root = tmp_path / "resumed"
    resume_from_snapshot(tmp_path / "snapshot", resumed_root)
    resumed = KLAutoencoderStage(kl_config, seed=1)
    summary = train_loop(resumed, resumed_root / "autoencoder", replace(training, steps=12), run.bank("train"), None, 1)
    assert summary["step"] == 12
    with open(resumed_root / "autoencoder" / "train.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)][-1] == 12
