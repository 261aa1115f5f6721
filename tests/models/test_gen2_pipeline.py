"""The second generation trained end to end on tiny data: f = 4 autoencoder, mean network, residual diffusion;
its autoencoder round trip, and a run resumed in a new folder from its committed snapshot."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from models.config import config_from_dict, load_config, save_config
from models.data.layouts import find_brats_cases
from models.evaluate_autoencoder import main as evaluate_autoencoder
from models.train import train_stage
from models.training.kl_autoencoder_stage import KLAutoencoderStage
from models.training.loop import RESUME, train_loop
from models.training.run import open_run
from models.training.snapshot import resume_from_snapshot, write_snapshot
from tests.models.conftest import tiny_kl_recipe


def _rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def gen2_config():
    recipe = tiny_kl_recipe()
    recipe["structure"]["kind"] = "mean"
    recipe["diffusion"].update(kind="residual", bank_patterns=2, bank_slice_stride=3)
    training = recipe["training"]
    training["mean"] = {"steps": 8, "batch_size": 4, "learning_rate": 0.003, "log_every": 4, "checkpoint_every": 8}
    training["diffusion"] = {
        "steps": 10,
        "batch_size": 8,
        "learning_rate": 0.002,
        "log_every": 5,
        "checkpoint_every": 10,
    }
    return config_from_dict(recipe)


@pytest.fixture(scope="module")
def gen2_run(gen2_config, brats_folder, tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("gen2")
    save_config(gen2_config, root / "recipe.yaml")
    run = open_run(root / "run", brats_folder, "brats", root / "recipe.yaml")
    summaries = {stage: train_stage(run, stage) for stage in ("autoencoder", "mean", "diffusion")}
    return run, summaries


def test_every_stage_finishes(gen2_run):
    run, summaries = gen2_run
    assert all(s["finished"] for s in summaries.values())
    assert json.loads((run.root / "autoencoder" / "latent_scale.json").read_text())["latent_scale"] > 0
    assert json.loads((run.root / "diffusion" / "residual_scale.json").read_text())["residual_scale"] > 0


def test_autoencoder_loss_falls_and_validates_inside_the_brain(gen2_run):
    run, _ = gen2_run
    rows = _rows(run.root / "autoencoder" / "train.csv")
    assert float(rows[-1]["l1"]) < 0.85 * float(rows[0]["l1"])
    validation = _rows(run.root / "autoencoder" / "validation.csv")
    assert len(validation) == 2 and all(0 < float(r["brain_psnr"]) < 60 for r in validation)


def test_mean_validates_each_contrast_hidden_alone(gen2_run):
    run, _ = gen2_run
    last = _rows(run.root / "mean" / "validation.csv")[-1]
    assert float(last["psnr"]) == pytest.approx(
        sum(float(last[f"{c}_psnr"]) for c in ("t1", "t1ce", "t2", "flair")) / 4
    )


def test_residual_diffusion_is_scored_against_its_mean(gen2_run):
    run, _ = gen2_run
    last = _rows(run.root / "diffusion" / "validation.csv")[-1]
    assert {"mean_psnr", "refined_psnr", "mean_ssim", "refined_ssim", "refined_image_psnr"} <= set(last)
    assert all(0 < float(last[k]) < 60 for k in ("mean_psnr", "refined_psnr", "refined_image_psnr"))


def test_round_trip_is_scored_against_a_bicubic_code_of_the_same_size(gen2_run, brats_folder, tmp_path):
    run, _ = gen2_run
    assert evaluate_autoencoder(["--run", str(run.root), "--data", str(brats_folder), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "autoencoder.json").read_text())
    assert set(result["summary"]) == {"autoencoder", "bicubic-2x"}
    assert 0 < result["summary"]["autoencoder"]["all"]["psnr"] < 60
    assert "| autoencoder |" in (tmp_path / "autoencoder.md").read_text()


def test_a_snapshot_resumes_in_a_new_run_folder(gen2_config, gen2_run, tmp_path):
    run, _ = gen2_run
    training = gen2_config.training.autoencoder
    source = tmp_path / "source"
    train_loop(
        KLAutoencoderStage(gen2_config, 1),
        source / "autoencoder",
        replace(training, steps=4),
        run.bank("train"),
        None,
        1,
    )
    for name in ("config.yaml", "split.json"):
        (source / name).write_bytes((run.root / name).read_bytes())
    assert write_snapshot(source, tmp_path / "snapshot") == ["autoencoder"]
    saved = torch.load(tmp_path / "snapshot" / "autoencoder" / RESUME, weights_only=True)
    assert saved["step"] == 4 and "optimizers" not in saved
    assert all(v.dtype == torch.float16 for v in saved["modules"]["ema"].values() if v.is_floating_point())

    resume_from_snapshot(tmp_path / "snapshot", tmp_path / "resumed")
    resumed = KLAutoencoderStage(gen2_config, 1)
    summary = train_loop(
        resumed, tmp_path / "resumed" / "autoencoder", replace(training, steps=6), run.bank("train"), None, 1
    )
    assert summary["step"] == 6
    assert [int(r["step"]) for r in _rows(tmp_path / "resumed" / "autoencoder" / "train.csv")][-1] == 6
    checkpoint = torch.load(source / "autoencoder" / "checkpoint.pt", weights_only=False)["modules"]["autoencoder"]
    for name, value in saved["modules"]["autoencoder"].items():
        if value.is_floating_point():
            assert torch.allclose(value.float(), checkpoint[name], atol=1e-3, rtol=1e-3), name


def test_a_finished_stage_is_snapshotted_as_trained_and_the_next_session_builds_on_it(gen2_run, brats_folder, tmp_path):
    """Final fp16 weights (EMA included) replace resume.pt; a resumed run skips the stage and exports the model."""
    from models.export import export_run
    from models.training.snapshot import FINAL

    run, summaries = gen2_run
    assert write_snapshot(run.root, tmp_path / "snapshot") == ["autoencoder", "mean", "diffusion"]
    for stage in ("autoencoder", "mean", "diffusion"):
        folder = tmp_path / "snapshot" / stage
        assert not (folder / RESUME).exists() and (folder / "summary.json").is_file()
        saved = torch.load(folder / FINAL, weights_only=False)
        assert "loss" not in saved
        assert all(v.dtype == torch.float16 for m in saved.values() for v in m.values() if v.is_floating_point())
    assert "ema" in torch.load(tmp_path / "snapshot" / "mean" / FINAL, weights_only=False)

    resume_from_snapshot(tmp_path / "snapshot", tmp_path / "resumed")
    resumed = open_run(tmp_path / "resumed", brats_folder, "brats")
    assert train_stage(resumed, "mean") == summaries["mean"], "taken as trained, not trained again"
    model = export_run(resumed.root, tmp_path / "model", version="0.3.0-test", sampler="onestep:image")
    exported = load_config(model / "model.yaml").sampler
    assert (exported.kind, exported.image_residual) == ("onestep", True), "the sampler chosen on the evaluation"
    with pytest.raises(ValueError, match="give one sampler"):
        export_run(resumed.root, tmp_path / "other", version="0.3.0-test", sampler="mean,onestep")


@pytest.fixture(scope="module")
def gen2_model(gen2_run, tmp_path_factory):
    from models.export import export_run

    run, _ = gen2_run
    return export_run(run.root, tmp_path_factory.mktemp("gen2model") / "model", version="0.3.0-test")


def test_the_exported_model_synthesizes_by_each_output_kind(gen2_run, gen2_model, brats_folder):
    from models.config import SamplerConfig
    from models.data.layouts import find_brats_cases
    from models.data.slices import load_case_on_grid
    from models.evaluation.scenarios import present_only
    from models.synthesis import Synthesizer

    run, _ = gen2_run
    synthesizer = Synthesizer.load(gen2_model)
    assert synthesizer.config.residual_scale > 0 and synthesizer.mean is not None
    case = next(c for c in find_brats_cases(brats_folder) if c.case_id in run.split["test"])
    grid = load_case_on_grid(case, synthesizer.config.data)
    given = present_only(grid, ("t2", "flair"))
    outputs = {}
    for kind, steps, seed in (("mean", 1, 0), ("onestep", 1, 0), ("onestep", 1, 5), ("ddim", 3, 0), ("ddim", 3, 5)):
        sampler = SamplerConfig(kind=kind, steps=steps, batch_size=16)
        result = synthesizer.synthesize_grid(given, ["t2", "flair"], seed=seed, sampler=sampler)
        assert set(result) == {"t2", "flair"}
        for volume in result.values():
            assert volume.shape == grid.images.shape[1:] and volume.min() >= -1 and volume.max() <= 1
            assert (volume[~grid.foreground] == -1).all()
        outputs[kind, seed] = result["flair"]
    assert np.array_equal(outputs["onestep", 0], outputs["onestep", 5])  # deterministic: no noise is drawn
    assert not np.array_equal(outputs["ddim", 0], outputs["ddim", 5])
    assert not np.array_equal(outputs["mean", 0], outputs["onestep", 0])


def test_an_image_residual_of_zero_returns_the_mean_itself(gen2_run, gen2_model, brats_folder):
    """With `image_residual` the refinement is added to the mean image: a UNet that predicts no residual gives the
    mean exactly (no autoencoder round trip), while decoding the mean's latent does not."""
    import copy

    from models.config import SamplerConfig
    from models.data.layouts import find_brats_cases
    from models.data.slices import load_case_on_grid
    from models.evaluation.scenarios import present_only
    from models.synthesis import Synthesizer

    run, _ = gen2_run
    synthesizer = copy.deepcopy(Synthesizer.load(gen2_model))
    output_layer = [m for m in synthesizer.unet.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(output_layer.weight)
    torch.nn.init.zeros_(output_layer.bias)
    case = next(c for c in find_brats_cases(brats_folder) if c.case_id in run.split["test"])
    grid = load_case_on_grid(case, synthesizer.config.data)
    given = present_only(grid, ("flair",))
    result = {}
    for name, sampler in (
        ("mean", SamplerConfig(kind="mean", steps=1)),
        ("image", SamplerConfig(kind="onestep", steps=1, image_residual=True)),
        ("latent", SamplerConfig(kind="onestep", steps=1)),
    ):
        result[name] = synthesizer.synthesize_grid(given, ["flair"], sampler=sampler)["flair"]
    np.testing.assert_allclose(result["image"], result["mean"], atol=1e-5)
    assert np.abs(result["latent"] - result["mean"]).max() > 1e-3


def test_evaluation_scores_the_mean_and_the_refinement_in_one_run(gen2_run, gen2_model, brats_folder, tmp_path):
    from models.evaluate import main

    run, _ = gen2_run
    args = ["--model", str(gen2_model), "--data", str(brats_folder), "--split", str(run.root / "split.json")]
    args += ["--out", str(tmp_path), "--scenarios", "flair", "--max-slices", "4", "--samplers", "onestep,mean"]
    args += ["--baselines", "", "--max-subjects", "1"]
    assert main(args) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert result["methods"] == ["msgldm-onestep", "msgldm-mean"]
    assert "msgldm-onestep - msgldm-mean (psnr)" in (tmp_path / "evaluation.md").read_text()


def test_the_ablation_refines_the_regression_with_the_same_diffusion(gen2_config, gen2_run, brats_folder, tmp_path):
    import shutil

    from models.config import SamplerConfig
    from models.data.slices import load_case_on_grid
    from models.evaluation.scenarios import present_only
    from models.export import export_run
    from models.synthesis import Synthesizer

    run, _ = gen2_run
    ablation = replace(
        gen2_config,
        diffusion=replace(gen2_config.diffusion, mean_source="regression"),
        training=replace(
            gen2_config.training,
            regression=replace(gen2_config.training.regression, steps=6, batch_size=4, checkpoint_every=6),
        ),
    )
    save_config(ablation, tmp_path / "recipe.yaml")
    (tmp_path / "run").mkdir()
    shutil.copytree(run.root / "autoencoder", tmp_path / "run" / "autoencoder")
    shutil.copy2(run.root / "split.json", tmp_path / "run" / "split.json")
    ablation_run = open_run(tmp_path / "run", brats_folder, "brats", tmp_path / "recipe.yaml")
    assert train_stage(ablation_run, "regression")["finished"]
    assert train_stage(ablation_run, "diffusion")["finished"]
    model = export_run(ablation_run.root, tmp_path / "model", version="0.3.0-ablation-test")
    synthesizer = Synthesizer.load(model)
    case = next(c for c in find_brats_cases(brats_folder) if c.case_id in run.split["test"])
    grid = load_case_on_grid(case, synthesizer.config.data)
    out = synthesizer.synthesize_grid(present_only(grid, ("flair",)), ["flair"], sampler=SamplerConfig(kind="onestep"))
    assert out["flair"].shape == grid.images.shape[1:]


def test_the_structure_guided_mean_and_its_twin_fine_tune_the_regression(gen2_config, gen2_run, brats_folder, tmp_path):
    """Regression, then the guided mean and its unguided twin from it (same steps), the residual diffusion over the
    guided mean, exported and synthesizing; the snapshot carries both fine-tunings."""
    import shutil

    from models.config import SamplerConfig
    from models.data.slices import load_case_on_grid
    from models.evaluation.scenarios import present_only
    from models.export import export_run
    from models.synthesis import Synthesizer

    run, _ = gen2_run
    fine_tune = replace(gen2_config.training.regression, steps=4, batch_size=4, checkpoint_every=4, log_every=2)
    guided = replace(
        gen2_config,
        diffusion=replace(gen2_config.diffusion, mean_source="guided"),
        training=replace(
            gen2_config.training, regression=replace(fine_tune, steps=6), guided=fine_tune, unguided=fine_tune
        ),
    )
    save_config(guided, tmp_path / "recipe.yaml")
    (tmp_path / "run").mkdir()
    for stage in ("autoencoder", "mean"):
        shutil.copytree(run.root / stage, tmp_path / "run" / stage)
    shutil.copy2(run.root / "split.json", tmp_path / "run" / "split.json")
    guided_run = open_run(tmp_path / "run", brats_folder, "brats", tmp_path / "recipe.yaml")
    with pytest.raises(SystemExit, match="regression/weights.pt is missing"):
        train_stage(guided_run, "guided")
    assert train_stage(guided_run, "regression")["finished"]
    for stage in ("guided", "unguided"):
        assert train_stage(guided_run, stage)["finished"]
    earlier_bank = run.root / "diffusion" / "latent_bank.pt"
    assert train_stage(guided_run, "diffusion", reuse_latents=earlier_bank)["finished"]
    bank = torch.load(guided_run.root / "diffusion" / "latent_bank.pt", weights_only=True)
    earlier = torch.load(earlier_bank, weights_only=True)
    assert torch.equal(bank["latents"], earlier["latents"]), "the same autoencoder's latents, taken over"
    assert not torch.equal(bank["conditions"], earlier["conditions"]), "the conditions are the new mean's"
    guided_rows = _rows(guided_run.root / "guided" / "train.csv")
    assert "seg" in guided_rows[0] and "seg" not in _rows(guided_run.root / "unguided" / "train.csv")[0]
    assert len(_rows(guided_run.root / "unguided" / "validation.csv")) == 1
    model = export_run(guided_run.root, tmp_path / "model", version="0.3.0-guided-test")
    synthesizer = Synthesizer.load(model)
    assert type(synthesizer.mean).__name__ == "StructureGuidedMean"
    case = next(c for c in find_brats_cases(brats_folder) if c.case_id in run.split["test"])
    grid = load_case_on_grid(case, synthesizer.config.data)
    out = synthesizer.synthesize_grid(present_only(grid, ("t2",)), ["t2"], sampler=SamplerConfig(kind="onestep"))
    assert out["t2"].shape == grid.images.shape[1:]
    written = write_snapshot(guided_run.root, tmp_path / "snapshot")
    assert {"guided", "unguided"} <= set(written)
    assert write_snapshot(guided_run.root, tmp_path / "own", ("diffusion",)) == ["diffusion"]
    assert not (tmp_path / "own" / "autoencoder").exists()
    with pytest.raises(ValueError, match="unknown stage"):
        write_snapshot(guided_run.root, tmp_path / "own", ("difusion",))


def test_the_banks_condition_from_latents_at_hand_equals_the_one_encoded_afresh(gen2_run, gen2_model):
    """The training bank passes the slices' latents to spare encoding present contrasts twice; same condition."""
    from models.diffusion.residual import make_residual_condition
    from models.synthesis import Synthesizer

    run, _ = gen2_run
    synthesizer = Synthesizer.load(gen2_model)
    bank = run.bank("train")
    images = torch.from_numpy(bank.images[: len(bank) : max(1, len(bank) // 6)].astype(np.float32))
    available = torch.tensor([[1, 1, 1, 0], [0, 1, 0, 1], [1, 0, 0, 0], [1, 1, 1, 1]] * 2, dtype=torch.bool)
    available = available[: len(images)]
    afresh, means = make_residual_condition(synthesizer.mean, synthesizer.codec, images, available)
    latents = synthesizer.codec.encode(images)
    reused, _ = make_residual_condition(synthesizer.mean, synthesizer.codec, images, available, latents)
    assert torch.allclose(afresh.condition, reused.condition, atol=1e-4)
    assert torch.equal(afresh.missing_mask, reused.missing_mask)


def test_the_residual_bank_is_cached_for_its_frozen_weights_only(gen2_run):
    from models.training.latent_bank import load_latent_bank

    run, _ = gen2_run
    path = run.root / "diffusion" / "latent_bank.pt"
    saved = torch.load(path, weights_only=True)
    bank = load_latent_bank(path, saved["key"])
    assert bank is not None and bank.conditions is not None and len(bank) == len(saved["latents"])
    assert load_latent_bank(path, {**saved["key"], "weights": "other"}) is None, "other frozen weights: rebuilt"


def test_latents_are_taken_over_only_from_the_same_slices_through_the_same_autoencoder(gen2_run, gen2_model):
    import copy

    from models.diffusion.latents import LatentCodec
    from models.synthesis import Synthesizer
    from models.training.latent_bank import reusable_latents

    run, _ = gen2_run
    path = run.root / "diffusion" / "latent_bank.pt"
    stride = run.config.diffusion.bank_slice_stride
    codec = Synthesizer.load(gen2_model).codec
    bank = run.bank("train")
    assert reusable_latents(path, codec, bank, stride) is not None
    assert reusable_latents(path, codec, bank, stride + 1) is None, "other slices"
    other = copy.deepcopy(codec.autoencoder)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    assert reusable_latents(path, LatentCodec(other, codec.scale), bank, stride) is None, "another autoencoder"
    with pytest.raises(FileNotFoundError, match="no latent bank"):
        reusable_latents(path.with_name("absent.pt"), codec, bank, stride)


def test_a_bank_build_stopped_midway_goes_on_from_its_progress_file(gen2_run, gen2_model, tmp_path):
    """Building the bank takes hours on two cores: a stopped build resumes, and gives the bank an unbroken one does."""
    from models.diffusion.residual import make_residual_condition
    from models.synthesis import Synthesizer
    from models.training.latent_bank import build_latent_bank
    from models.training.mean_stage import mean_availability

    run, _ = gen2_run
    synthesizer = Synthesizer.load(gen2_model)
    bank = run.bank("train")
    calls = {"n": 0, "stop_at": None}

    def condition(latents, images, available):
        calls["n"] += 1
        if calls["stop_at"] is not None and calls["n"] == calls["stop_at"]:
            raise KeyboardInterrupt("the session ended")
        return make_residual_condition(synthesizer.mean, synthesizer.codec, images, available, latents)[0].condition

    options = dict(store_conditions=True, patterns=2, batch_size=2, availability_fn=mean_availability, slice_stride=2)
    whole = build_latent_bank(bank, synthesizer.codec, condition, **options)
    batches = -(-len(whole) // 2)
    assert batches >= 4, "the test needs a few batches"
    progress, key = tmp_path / "bank.progress.pt", {"weights": "w"}
    calls.update(n=0, stop_at=2 * 3 + 1)  # two patterns per batch: stops in the fourth batch
    with pytest.raises(KeyboardInterrupt):
        build_latent_bank(
            bank, synthesizer.codec, condition, progress=progress, progress_key=key, progress_every=2, **options
        )
    assert torch.load(progress, weights_only=True)["done"] == 4, "two batches of two slices saved"
    calls.update(n=0, stop_at=None)
    resumed = build_latent_bank(bank, synthesizer.codec, condition, progress=progress, progress_key=key, **options)
    assert calls["n"] == 2 * (batches - 2), "the saved batches are not made again"
    assert not progress.exists()
    assert torch.equal(resumed.available, whole.available)
    assert torch.allclose(resumed.latents.float(), whole.latents.float(), atol=1e-2)
    assert torch.allclose(resumed.conditions.float(), whole.conditions.float(), atol=1e-2)
