"""The loop every stage shares: batches, logging, checkpoints that resume exactly, a clean stop on a time limit.

A stage is an object with `modules` (saved), `optimizers`, `train_step(batch,
step) -> dict` and `validate(bank) -> dict`. The loop owns everything else.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.config import StageTraining
from models.data.slices import SliceBank, SliceBatch
from models.training.latent_bank import LatentBank
from models.training.schedule import learning_rate_factor, set_learning_rate

logger = logging.getLogger(__name__)


class Stage(Protocol):
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]: ...

    def validate(self, bank: SliceBank) -> dict[str, float]: ...


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _checkpoint(stage: Stage, step: int, rng: np.random.Generator, elapsed: float) -> dict:
    return {
        "step": step,
        "elapsed_s": elapsed,
        "modules": {k: m.state_dict() for k, m in stage.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in stage.optimizers.items()},
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
    }


def _restore(stage: Stage, state: dict, rng: np.random.Generator) -> tuple[int, float]:
    for key, module in stage.modules.items():
        module.load_state_dict(state["modules"][key])
    for key, optimizer in stage.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][key])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), float(state["elapsed_s"])


RESUME = "resume.pt"
"""A stage's committed state between sessions: fp16 module weights (EMA included), step and time; no optimizer."""


def write_resume(folder: Path, out: Path) -> Path:
    """The committable form of a stage's latest checkpoint: `out/resume.pt`, overwritten in place."""
    state = torch.load(Path(folder) / "checkpoint.pt", map_location="cpu", weights_only=False)
    half = {
        key: {k: v.half() if torch.is_floating_point(v) else v for k, v in module.items()}
        for key, module in state["modules"].items()
        if key != "loss"
    }
    out.mkdir(parents=True, exist_ok=True)
    target = out / RESUME
    _atomic_save({"step": state["step"], "elapsed_s": state["elapsed_s"], "modules": half}, target)
    return target


def _restore_weights(stage: Stage, state: dict) -> tuple[int, float]:
    """Modules from a `resume.pt`; the optimizers start afresh (the loop warms the learning rate up again)."""
    for key, module in stage.modules.items():
        if key in state["modules"]:
            module.load_state_dict(
                {k: v.float() if torch.is_floating_point(v) else v for k, v in state["modules"][key].items()}
            )
    return int(state["step"]), float(state["elapsed_s"])


def _append_row(path: Path, row: dict) -> None:
    """One CSV line; the header is the first row's keys (every row of a file has the same keys)."""
    new = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def plot_curves(folder: Path, out: Path) -> None:
    """Loss curves from train.csv and validation.csv, one panel per term."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = {split: _read_rows(folder / f"{split}.csv") for split in ("train", "validation")}
    keys = sorted({k for rows in logs.values() for r in rows for k in r} - {"step", "elapsed_s"})
    if not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for split, rows in logs.items():
            pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in ("", None)]
            if pts:
                ax.plot(*zip(*pts), label=split, marker="." if split == "validation" else None)
        ax.set_title(key, fontsize=9)
        ax.set_yscale("symlog", linthresh=1e-3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def train_loop(
    stage: Stage,
    folder: Path,
    training: StageTraining,
    train_bank: SliceBank | LatentBank,
    validation_bank: SliceBank | None,
    seed: int,
) -> dict:
    """Train until `training.steps` or the `max_minutes` budget, resuming from `folder/checkpoint.pt` when present.

    Either end writes `weights.pt` (the modules' final fp32 state) and
    `summary.json` (steps done against steps planned); a crash or kill leaves
    the last checkpoint, from which the next call goes on.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    step, elapsed = 0, 0.0
    checkpoint = folder / "checkpoint.pt"
    warm_from = 0
    if checkpoint.is_file():
        step, elapsed = _restore(stage, torch.load(checkpoint, weights_only=False), rng)
        logger.info("%s: resuming at step %d (%.0f min trained)", folder.name, step, elapsed / 60)
    elif (folder / RESUME).is_file():
        step, elapsed = _restore_weights(stage, torch.load(folder / RESUME, map_location="cpu", weights_only=True))
        warm_from = step
        rng = np.random.default_rng([seed, step])
        logger.info(
            "%s: resuming weights at step %d (%.0f min trained), new optimizer", folder.name, step, elapsed / 60
        )
    start = time.perf_counter() - elapsed
    session_start = time.perf_counter()
    terms: dict[str, float] = {}
    sums: dict[str, float] = {}
    with tqdm(total=training.steps, initial=step, desc=folder.name, mininterval=10, dynamic_ncols=True) as bar:
        while step < training.steps:
            for module in stage.modules.values():
                module.train()
            set_learning_rate(stage.optimizers, learning_rate_factor(training, step, warm_from))
            terms = stage.train_step(train_bank.sample(rng, training.batch_size), step)
            step += 1
            bar.update(1)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            rows = []
            if step % training.log_every == 0 or step == training.steps:
                count = training.log_every if step % training.log_every == 0 else step % training.log_every
                rows.append({"split": "train", **{k: v / count for k, v in sums.items()}})
                bar.set_postfix({k: f"{v / count:.4f}" for k, v in list(sums.items())[:4]})
                sums = {}
            last = step == training.steps
            timed_out = training.max_minutes > 0 and time.perf_counter() - session_start > training.max_minutes * 60
            if step % training.checkpoint_every == 0 or last or timed_out:
                if validation_bank is not None:
                    for module in stage.modules.values():
                        module.eval()
                    rows.append({"split": "validation", **stage.validate(validation_bank)})
                _atomic_save(_checkpoint(stage, step, rng, time.perf_counter() - start), checkpoint)
            for row in rows:
                row.update(step=step, elapsed_s=round(time.perf_counter() - start, 1))
                _append_row(folder / f"{row.pop('split')}.csv", row)
            if timed_out and not last:
                logger.info(
                    "%s: time budget of %.0f min spent at step %d: finishing", folder.name, training.max_minutes, step
                )
                break
    _atomic_save({k: m.state_dict() for k, m in stage.modules.items()}, folder / "weights.pt")
    summary = {
        "finished": True,
        "step": step,
        "planned_steps": training.steps,
        "minutes": round((time.perf_counter() - start) / 60, 1),
        "last": terms,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    plot_curves(folder, folder / "curves.png")
    return summary
