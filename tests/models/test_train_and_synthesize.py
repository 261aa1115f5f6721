"""A tiny MSG-LDM trained end to end in the test, exported, loaded and used through the Synthesizer boundary."""

import shutil

import numpy as np
import pytest
import torch

from models.config import save_config
from models.data.layouts import find_brats_cases
from models.data.slices import load_case_on_grid
from models.evaluation.scenarios import present_only
from models.export import export_run
from models.synthesis import SynthesisError, Synthesizer
from models.train import train_stage
from models.training.run import open_run


@pytest.fixture(scope="module")
def trained(tiny_config, brats_folder, tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("run")
    recipe = root / "recipe.yaml"
    save_config(tiny_config, recipe)
    run = open_run(root / "run", brats_folder, "brats", recipe)
    summaries = {stage: train_stage(run, stage) for stage in ("autoencoder", "structure", "diffusion")}
    model_dir = export_run(run.root, root / "model", version="0.0.1-test")
    return run, summaries, model_dir


def test_every_stage_finishes_and_logs(trained):
    run, summaries, _ = trained
    for stage, summary in summaries.items():
        assert summary["finished"], stage
        assert (run.root / stage / "weights.pt").is_file() and (run.root / stage / "train.csv").is_file()
        assert not (run.root / stage / "checkpoint.pt").exists()


def test_autoencoder_loss_falls(trained):
    import csv

    run, _, _ = trained
    with open(run.root / "autoencoder" / "train.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["l1"]) < 0.7 * float(rows[0]["l1"])


def test_synthesized_volume_is_closer_to_the_truth_than_noise(trained, brats_folder):
    run, _, model_dir = trained
    synthesizer = Synthesizer.load(model_dir)
    case = next(c for c in find_brats_cases(brats_folder) if c.case_id in run.split["test"])
    grid = load_case_on_grid(case, synthesizer.config.data)
    out = synthesizer.synthesize_grid(present_only(grid, ("flair",)), ["flair"], seed=0)["flair"]
    truth = grid.image("flair")
    inside = grid.foreground
    noise = np.random.default_rng(0).uniform(-1, 1, truth.shape)
    assert np.abs(out - truth)[inside].mean() < np.abs(noise - truth)[inside].mean()
    again = synthesizer.synthesize_grid(present_only(grid, ("flair",)), ["flair"], seed=0)["flair"]
    assert np.array_equal(out, again)


def test_synthesize_returns_missing_contrasts_on_the_input_grid(trained, brats_folder):
    import nibabel as nib

    _, _, model_dir = trained
    case = find_brats_cases(brats_folder)[0]
    image = nib.load(case.images["t1"])
    volumes = {c: np.asarray(nib.load(case.images[c]).dataobj, np.float32) for c in ("t1", "t2")}
    steps = []
    out = Synthesizer.load(model_dir).synthesize(
        volumes, image.affine, ["t1ce", "flair"], progress=lambda i, n: steps.append(n)
    )
    assert set(out) == {"t1ce", "flair"} and out["flair"].shape == image.shape
    assert out["flair"].min() >= 0.0 and out["flair"].max() <= 1.0
    assert steps and steps[-1] >= 5


@pytest.mark.parametrize(
    ("present", "missing", "message"),
    [((), ["flair"], "no contrast present"), (("t1",), ["dwi"], "dwi"), (("t1",), ["t1"], "both present")],
)
def test_requests_the_model_cannot_serve_are_refused(trained, present, missing, message):
    _, _, model_dir = trained
    with pytest.raises(SynthesisError, match=message):
        Synthesizer.load(model_dir).check_request(present, missing)


def test_a_grid_of_another_size_is_refused(trained, brats_folder):
    from dataclasses import replace

    _, _, model_dir = trained
    synthesizer = Synthesizer.load(model_dir)
    grid = load_case_on_grid(find_brats_cases(brats_folder)[0], replace(synthesizer.config.data, image_size=72))
    with pytest.raises(SynthesisError, match="72"):
        synthesizer.synthesize_grid(present_only(grid, ("flair",)), ["flair"])


def test_corrupt_weights_are_refused_by_checksum(trained, tmp_path):
    _, _, model_dir = trained
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    with open(copy / "weights.pt", "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)
    with pytest.raises(SynthesisError, match="checksum"):
        Synthesizer.load(copy)


def test_a_stopped_stage_resumes_from_its_checkpoint(tiny_config, brats_folder, tmp_path):
    from dataclasses import replace

    from models.training.loop import train_loop
    from models.training.structure_stage import StructureStage

    save_config(tiny_config, tmp_path / "recipe.yaml")
    run = open_run(tmp_path / "run", brats_folder, "brats", tmp_path / "recipe.yaml")
    folder = tmp_path / "structure"
    config = tiny_config
    training = replace(config.training.structure, steps=6, checkpoint_every=3)
    first = StructureStage(config)
    train_loop(first, folder, replace(training, steps=3), run.bank("train"), None, seed=0)
    assert (folder / "checkpoint.pt").is_file()
    resumed = StructureStage(config)
    summary = train_loop(resumed, folder, training, run.bank("train"), None, seed=0)
    assert summary["step"] == 6


def test_evaluate_command_writes_a_table_per_scenario_with_the_baseline(trained, brats_folder, tmp_path):
    import json

    from models.evaluate import main

    run, _, model_dir = trained
    out = tmp_path / "eval"
    args = ["--model", str(model_dir), "--data", str(brats_folder), "--split", str(run.root / "split.json")]
    args += ["--out", str(out), "--scenarios", "flair;t1ce,flair", "--max-slices", "6", "--fit-subjects", "1"]
    assert main(args) == 0
    result = json.loads((out / "evaluation.json").read_text())
    assert result["methods"] == ["msgldm-ddim5", "nearest"]
    assert {r["scenario"] for r in result["summary"]} == {"t1+t1ce+t2 -> flair", "t1+t2 -> t1ce+flair"}
    assert all(0 < r["ssim"] <= 1 and r["psnr"] > 0 for r in result["summary"])
    assert all(r["high_frequency_ratio"] > 0.0 and r["paper_psnr"] > r["psnr"] for r in result["summary"])
    table = (out / "evaluation.md").read_text()
    assert "| t1+t2 -> t1ce+flair | t1ce |" in table and "python -m models.evaluate" in table
    assert "msgldm-ddim5 - nearest (psnr)" in table and "As papers report it" in table


@pytest.mark.parametrize("stage", ["autoencoder", "structure"])
def test_a_stage_warm_starts_from_exported_weights(trained, tiny_config, stage):
    from models.train import warm_start
    from models.training.autoencoder_stage import AutoencoderStage
    from models.training.structure_stage import StructureStage

    _, _, model_dir = trained
    trainer = (AutoencoderStage if stage == "autoencoder" else StructureStage)(tiny_config, seed=5)
    module = trainer.autoencoder if stage == "autoencoder" else trainer.network
    before = {k: v.clone() for k, v in module.state_dict().items()}
    assert warm_start(trainer, stage, model_dir)
    exported = torch.load(model_dir / "weights.pt", weights_only=True)[stage]
    after = module.state_dict()
    assert all(torch.equal(after[k], exported[k].float()) for k in exported)
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


def test_the_regression_baseline_trains_and_predicts_the_missing_contrasts(trained, brats_folder):
    from models.baselines.regression import RegressionBaseline

    run, _, _ = trained
    summary = train_stage(run, "regression")
    assert summary["finished"] and summary["step"] == run.config.training.regression.steps
    rows = (run.root / "regression" / "train.csv").read_text().splitlines()
    first, last = (float(r.split(",")[0]) for r in (rows[1], rows[-1]))
    assert last < first, "the L1 of the missing contrasts falls"
    baseline = RegressionBaseline.load(run.root / "regression" / "weights.pt", run.config)
    case = find_brats_cases(brats_folder)[0]
    grid = load_case_on_grid(case, run.config.data)
    predicted = baseline.predict(present_only(grid, ("t2", "flair")), ["t2", "flair"])
    assert set(predicted) == {"t2", "flair"}
    for volume in predicted.values():
        assert volume.shape == grid.image("t2").shape
        assert np.all(volume[~grid.foreground] == -1.0) and volume.min() >= -1.0 and volume.max() <= 1.0
