"""Learning-rate schedule and EMA shared by every stage and baseline.

A long run spans sessions and only its weights (not the optimizer state) are committed between them, so the
learning rate warms up again after such a resume and decays against the run's planned total steps, not
against what one session can do.
"""

from __future__ import annotations

import math

import torch

from models.config import StageTraining

FINAL_LR_FRACTION = 0.05


def learning_rate_factor(training: StageTraining, step: int, warm_from: int) -> float:
    """Multiplier of the base learning rate at `step` (0-based), warming up from `warm_from`."""
    factor = 1.0
    if training.warmup_steps > 0:
        factor = min(1.0, (step - warm_from + 1) / training.warmup_steps)
    if training.cosine_decay and training.steps > 0:
        progress = min(1.0, step / training.steps)
        factor *= FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def set_learning_rate(optimizers: dict[str, torch.optim.Optimizer], factor: float) -> None:
    """Scale every parameter group's base learning rate (remembered on first use) by `factor`."""
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
            group["lr"] = group["base_lr"] * factor


def warmup_ema(decay: float):
    """EMA update whose decay warms up as (1 + n) / (10 + n) up to `decay`.

    With a fixed 0.999 the average of a run of a few hundred steps is still
    mostly the random initial weights; the warm-up follows the weights early
    and settles to the full decay later.
    """

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(averaged, current, 1.0 - d)

    return update
