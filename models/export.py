"""Turn a finished training run into a model folder: fp16 weights, recipe, checksum, card.

    python -m models.export --run RUN --out MODEL_DIR --version 0.1.0 [--name NAME] [--sampler SPEC]

A model folder holds `model.yaml` (the recipe, latent scale included),
`weights.pt` (fp16 state dicts of the autoencoder, the structure network and
the EMA diffusion UNet), `weights.sha256`, and the run's `training/` logs and
curves. Optimizer state and checkpoints never leave the run folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

from models.build import residual_mean_stage
from models.config import load_config, save_config
from models.sampler_spec import parse_samplers

WEIGHTS = "weights.pt"
CHECKSUM = "weights.sha256"
CONFIG = "model.yaml"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _half(state: dict) -> dict:
    return {k: v.half() if torch.is_floating_point(v) else v for k, v in state.items()}


def _ema_unet(state: dict) -> dict:
    """The UNet weights inside torch's AveragedModel state (keys 'module.*'), without its counter."""
    return {k.removeprefix("module."): v for k, v in state.items() if k.startswith("module.")}


def stage_weights(path: Path, key: str, ema: bool = True) -> dict:
    """A stage's module weights (float32) from its `weights.pt`, a `checkpoint.pt` or a committed `resume.pt`:
    the EMA average where the stage keeps one."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("modules", state)
    weights = _ema_unet(state["ema"]) if ema and "ema" in state else state[key]
    return {k: v.float() if torch.is_floating_point(v) else v for k, v in weights.items()}


def export_run(
    run: Path, out: Path, version: str, name: str | None = None, ema: bool = True, sampler: str | None = None
) -> Path:
    """`sampler` (a spec as `models.sampler_spec` reads it) replaces the recipe's default sampler: the one chosen
    on the evaluation, which a run's config, written before training, cannot know."""
    run, out = Path(run), Path(out)
    config = load_config(run / "config.yaml")
    scale = json.loads((run / "autoencoder" / "latent_scale.json").read_text())["latent_scale"]
    config = config.replace(latent_scale=scale, version=version, name=name or config.name)
    if sampler:
        chosen = parse_samplers(sampler, config.sampler)
        if len(chosen) != 1:
            raise ValueError(f"{sampler!r}: give one sampler, not {len(chosen)}")
        config = config.replace(sampler=chosen[0])
    gen2 = config.structure.kind == "mean"
    if gen2:
        residual = json.loads((run / "diffusion" / "residual_scale.json").read_text())["residual_scale"]
        config = config.replace(residual_scale=residual)
    mean_stage, mean_key = residual_mean_stage(config)
    stages = {s: run / s / WEIGHTS for s in ("autoencoder", mean_stage if gen2 else "structure", "diffusion")}
    missing = [
        str(p) for s, p in stages.items() if not p.is_file() and (s != "structure" or config.diffusion.use_structure)
    ]
    if missing:
        raise SystemExit(f"cannot export {run}: unfinished stage(s), missing {missing}")
    weights = {
        "autoencoder": _half(stage_weights(stages["autoencoder"], "autoencoder", ema)),
        "unet": _half(stage_weights(stages["diffusion"], "unet", ema)),
    }
    if gen2:
        weights["mean"] = _half(stage_weights(stages[mean_stage], mean_key, ema))
    elif config.diffusion.use_structure:
        weights["structure"] = _half(torch.load(stages["structure"], weights_only=True)["structure"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save(weights, out / WEIGHTS)
    (out / CHECKSUM).write_text(f"{sha256(out / WEIGHTS)}  {WEIGHTS}\n")
    save_config(config, out / CONFIG)
    logs = out / "training"
    for stage in stages:
        for item in ("train.csv", "validation.csv", "log.csv", "curves.png", "summary.json"):
            if (run / stage / item).is_file():
                (logs / stage).mkdir(parents=True, exist_ok=True)
                shutil.copy2(run / stage / item, logs / stage / item)
    if (run / "split.json").is_file():
        shutil.copy2(run / "split.json", logs / "split.json")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.export", description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--name")
    parser.add_argument("--no-ema", action="store_true", help="export the raw UNet weights instead of their EMA")
    parser.add_argument("--sampler", help="default sampler, e.g. mean, onestep:image, ddim:10:shared:image")
    args = parser.parse_args(argv)
    try:
        print(export_run(args.run, args.out, args.version, args.name, ema=not args.no_ema, sampler=args.sampler))
    except ValueError as error:
        parser.error(f"--sampler: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
