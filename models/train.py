"""Train MSG-LDM stage by stage on a BraTS- or WMH-layout folder; every stage resumes where it stopped.

    python -m models.train --data DIR --layout brats --out RUN [--config CFG.yaml]
                           [--stage all|autoencoder|structure|mean|diffusion|regression|guided|unguided]
                           [--max-minutes M] [--init-from MODEL_DIR]
                           [--resume-from SNAPSHOT] [--snapshot SNAPSHOT] [--reuse-latents BANK]

Then `python -m models.export --run RUN --out MODEL_DIR` makes the model folder
the application loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

from models.build import build_autoencoder, build_structure_network, load_residual_mean, residual_mean_stage
from models.config import ModelConfig, StageTraining
from models.export import stage_weights
from models.training.loop import train_loop
from models.training.run import Run, open_run
from product.process import ensure_stack_size

logger = logging.getLogger("models.train")
STAGES = ("autoencoder", "structure", "diffusion")
GEN2_STAGES = ("autoencoder", "mean", "diffusion")
"""The second generation (issue 17): `structure.kind: mean` and `diffusion.kind: residual`."""
BASELINE_STAGES = ("regression",)
"""Trained on request only (`--stage regression`), not by `--stage all`."""
GUIDED_STAGES = ("guided", "unguided")
"""On request, after the regression and the mean: the structure-guided mean and its unguided twin."""


def _training(config: ModelConfig, stage: str, max_minutes: float | None) -> StageTraining:
    training = getattr(config.training, stage)
    return dataclasses.replace(training, max_minutes=max_minutes) if max_minutes is not None else training


def _frozen(run: Run, stage: str, build, key: str):
    weights = run.root / stage / "weights.pt"
    if not weights.is_file():
        raise SystemExit(f"{weights} is missing: train the {stage} stage to the end first (--stage {stage})")
    module = build(run.config)
    module.load_state_dict(stage_weights(weights, key))
    return module.eval()


def latent_scale_of(run: Run) -> float:
    return json.loads((run.root / "autoencoder" / "latent_scale.json").read_text())["latent_scale"]


# Which exported weights (models.export) warm-start which module of a stage.
WARM_START = {
    "autoencoder": ("autoencoder", "autoencoder"),
    "structure": ("structure", "network"),
    "diffusion": ("unet", "unet"),
    "regression": ("regression", "network"),
}


def warm_start(trainer, stage: str, model_dir: Path) -> bool:
    """Load an exported model's weights into a fresh stage (training goes on from committed weights).

    Returns False when the model folder has no weights for this stage.
    """
    from models.export import WEIGHTS

    key, module = WARM_START[stage]
    weights = torch.load(Path(model_dir) / WEIGHTS, map_location="cpu", weights_only=True)
    if key not in weights:
        return False
    getattr(trainer, module).load_state_dict({k: v.float() for k, v in weights[key].items()})
    if stage == "diffusion":
        trainer.ema.module.load_state_dict(trainer.unet.state_dict())
    logger.info("%s: warm start from %s", stage, model_dir)
    return True


def _guided_stage(run: Run, with_structure: bool, seed: int):
    from models.training.guided_stage import GuidedMeanStage

    needed = {"regression": run.root / "regression" / "weights.pt", "mean": run.root / "mean" / "weights.pt"}
    for stage, weights in needed.items():
        if not weights.is_file():
            raise SystemExit(f"{weights} is missing: train the {stage} stage to the end first (--stage {stage})")
    return GuidedMeanStage(run.config, needed["regression"], needed["mean"], with_structure, seed)


def train_stage(
    run: Run,
    stage: str,
    max_minutes: float | None = None,
    init_from: Path | None = None,
    reuse_latents: Path | None = None,
) -> dict:
    """Train one stage of the run (resuming if it was stopped, or warm-started from `init_from`)."""
    from models.baselines.regression import RegressionStage
    from models.training.autoencoder_stage import AutoencoderStage, latent_scale
    from models.training.diffusion_stage import DiffusionStage
    from models.training.kl_autoencoder_stage import KLAutoencoderStage
    from models.training.mean_stage import MeanStage
    from models.training.residual_stage import ResidualDiffusionStage
    from models.training.structure_stage import StructureStage

    seed = run.config.training.seed
    folder = run.stage_dir(stage)
    if (folder / "weights.pt").is_file() and not (folder / "checkpoint.pt").is_file():
        logger.info("%s: already trained (%s)", stage, folder / "weights.pt")
        return json.loads((folder / "summary.json").read_text())
    if stage == "regression":
        trainer = RegressionStage(run.config, seed)
    elif stage in GUIDED_STAGES:
        trainer = _guided_stage(run, stage == "guided", seed)
    elif stage == "mean":
        trainer = MeanStage(run.config, seed)
    elif stage == "autoencoder" and run.config.autoencoder.kind == "kl":
        trainer = KLAutoencoderStage(run.config, seed)
    elif stage == "autoencoder":
        trainer = AutoencoderStage(run.config, seed)
    elif stage == "structure":
        trainer = StructureStage(run.config, seed)
    elif run.config.diffusion.kind == "residual":
        autoencoder = _frozen(run, "autoencoder", build_autoencoder, "autoencoder")
        mean_stage, key = residual_mean_stage(run.config)
        weights = run.root / mean_stage / "weights.pt"
        if not weights.is_file():
            raise SystemExit(f"{weights} is missing: train the {mean_stage} stage to the end first")
        mean_network = load_residual_mean(run.config, stage_weights(weights, key))
        config = run.config.replace(latent_scale=latent_scale_of(run))
        trainer = ResidualDiffusionStage(config, autoencoder, mean_network, seed)
    else:
        autoencoder = _frozen(run, "autoencoder", build_autoencoder, "autoencoder")
        structure = None
        if run.config.diffusion.use_structure:
            structure = _frozen(run, "structure", build_structure_network, "structure")
        config = run.config.replace(latent_scale=latent_scale_of(run))
        trainer = DiffusionStage(config, autoencoder, structure, seed)
    if init_from is not None and not (folder / "checkpoint.pt").is_file():
        warm_start(trainer, stage, init_from)
    train_bank, validation_bank = run.bank("train"), run.bank("validation") if run.split["validation"] else None
    if stage == "diffusion" and run.config.diffusion.kind == "residual":
        train_bank = trainer.latent_bank(train_bank, cache=folder / "latent_bank.pt", reuse=reuse_latents)
        (folder / "residual_scale.json").write_text(json.dumps({"residual_scale": trainer.residual_scale}))
    elif stage == "diffusion":
        train_bank = trainer.latent_bank(train_bank)
    summary = train_loop(trainer, folder, _training(run.config, stage, max_minutes), train_bank, validation_bank, seed)
    if stage == "autoencoder" and summary["finished"]:
        ema = getattr(trainer, "ema", None)
        scale = latent_scale(ema.module if ema is not None else trainer.autoencoder, train_bank)
        (folder / "latent_scale.json").write_text(json.dumps({"latent_scale": scale}))
    if summary["finished"]:
        (folder / "checkpoint.pt").unlink(missing_ok=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    ensure_stack_size()
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="BraTS- or WMH-layout folder")
    parser.add_argument("--layout", choices=("brats", "wmh"), default="brats")
    parser.add_argument("--out", type=Path, required=True, help="run folder (created, or resumed)")
    parser.add_argument("--config", type=Path, help="model recipe YAML (default: the CPU configuration)")
    parser.add_argument("--stage", choices=("all", *STAGES, "mean", *BASELINE_STAGES, *GUIDED_STAGES), default="all")
    parser.add_argument("--max-minutes", type=float, help="stop each stage cleanly after this long (resumable)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    parser.add_argument("--init-from", type=Path, help="model folder (models.export) whose weights start each stage")
    parser.add_argument("--cache-workers", type=int, default=2, help="processes preprocessing cases the first time")
    parser.add_argument("--resume-from", type=Path, help="snapshot folder of a run (fp16 weights + logs) to go on from")
    parser.add_argument("--snapshot", type=Path, help="write the run's resumable state to this folder, then stop")
    parser.add_argument("--snapshot-stages", nargs="+", help="with --snapshot: only these stages (default: all)")
    parser.add_argument(
        "--reuse-latents",
        type=Path,
        help="a residual diffusion's latent_bank.pt over the same autoencoder and data: its latents are reused "
        "(checked) and only the new mean's conditions are made",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.snapshot:
        from models.training.snapshot import write_snapshot

        write_snapshot(args.out, args.snapshot, tuple(args.snapshot_stages) if args.snapshot_stages else None)
        return 0
    if args.resume_from:
        from models.training.snapshot import resume_from_snapshot

        resume_from_snapshot(args.resume_from, args.out)
    run = open_run(args.out, args.data, args.layout, args.config, workers=args.cache_workers)
    stages = GEN2_STAGES if run.config.structure.kind == "mean" else STAGES
    for stage in stages if args.stage == "all" else (args.stage,):
        summary = train_stage(run, stage, args.max_minutes, args.init_from, args.reuse_latents)
        logger.info("%s: %s", stage, summary)
        if not summary.get("finished"):
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
