"""A long run's committed state between sessions, and how a run picks it up again.

    python -m models.train ... --snapshot models/training-runs/NAME    # write (overwriting) before a session ends
    python -m models.train ... --resume-from models/training-runs/NAME # next session: go on from it

A snapshot holds the recipe, the split, and per stage its latest fp16 weights (EMA included, `resume.pt`) with
its logs; never optimizer state, never a series of checkpoints (history never shrinks). A stage that has
finished keeps its final weights instead (`weights.pt`, fp16, EMA included): the next session takes the stage as
trained and builds on it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from models.training.loop import RESUME, write_resume

logger = logging.getLogger(__name__)

LOGS = ("train.csv", "validation.csv", "summary.json", "curves.png", "latent_scale.json", "residual_scale.json")
FINAL = "weights.pt"
STAGE_NAMES = ("autoencoder", "structure", "mean", "diffusion", "regression", "guided", "unguided")


def write_snapshot(run: Path, out: Path, stages: tuple[str, ...] | None = None) -> list[str]:
    """Copy the run's recipe, split and every stage's resumable state into `out`; returns the stages written.

    `stages` limits the copy (an ablation run that borrows its finished stages from another run's snapshot
    commits only its own).
    """
    run, out = Path(run), Path(out)
    unknown = sorted(set(stages or ()) - set(STAGE_NAMES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGE_NAMES)}")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "split.json"):
        shutil.copy2(run / name, out / name)
    written = []
    for stage in stages or STAGE_NAMES:
        folder = run / stage
        if not folder.is_dir():
            continue
        if (folder / "checkpoint.pt").is_file():
            write_resume(folder, out / stage)
        elif (folder / FINAL).is_file():
            write_final(folder / FINAL, out / stage)
        elif not (out / stage / RESUME).is_file():
            continue
        for name in LOGS:
            if (folder / name).is_file():
                shutil.copy2(folder / name, out / stage / name)
        written.append(stage)
    logger.info("snapshot of %s in %s: %s", run, out, written)
    return written


def write_final(weights: Path, out: Path) -> Path:
    """A finished stage's `weights.pt` in fp16 (the loss module's state left out) at `out/weights.pt`; the
    stage's `resume.pt`, if any, is removed: the snapshot then says the stage is done."""
    state = torch.load(weights, map_location="cpu", weights_only=False)
    modules = state.get("modules", state)
    half = {
        key: {k: v.half() if torch.is_floating_point(v) else v for k, v in module.items()}
        for key, module in modules.items()
        if key != "loss"
    }
    out.mkdir(parents=True, exist_ok=True)
    torch.save(half, out / FINAL)
    (out / RESUME).unlink(missing_ok=True)
    return out / FINAL


def resume_from_snapshot(snapshot: Path, run: Path) -> None:
    """Seed a run folder from a snapshot; a stage that already has local state keeps it."""
    snapshot, run = Path(snapshot), Path(run)
    run.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "split.json"):
        if not (run / name).is_file():
            shutil.copy2(snapshot / name, run / name)
    for stage in STAGE_NAMES:
        source, target = snapshot / stage, run / stage
        if (source / FINAL).is_file() and not (target / FINAL).is_file() and not (target / "checkpoint.pt").is_file():
            target.mkdir(parents=True, exist_ok=True)
            for name in (FINAL, *LOGS):
                if (source / name).is_file():
                    shutil.copy2(source / name, target / name)
            logger.info("%s: trained, final weights from %s", stage, source)
            continue
        if not (source / RESUME).is_file() or (target / "checkpoint.pt").is_file() or (target / RESUME).is_file():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in (RESUME, "train.csv", "validation.csv"):
            if (source / name).is_file():
                shutil.copy2(source / name, target / name)
        logger.info("%s: resumes from %s", stage, source)
