"""Learning-rate schedule of long runs: warm-up, cosine decay to the planned total, warm-up again after a resume."""

import pytest
import torch

from models.config import StageTraining
from models.training.schedule import FINAL_LR_FRACTION, learning_rate_factor, set_learning_rate

TRAINING = StageTraining(steps=1000, warmup_steps=100, cosine_decay=True)


def test_warms_up_then_decays_to_the_floor():
    assert learning_rate_factor(TRAINING, 0, 0) == pytest.approx(0.01)
    warm_only = StageTraining(steps=1000, warmup_steps=100)
    assert learning_rate_factor(warm_only, 49, 0) == pytest.approx(0.5)
    assert learning_rate_factor(warm_only, 99, 0) == learning_rate_factor(warm_only, 900, 0) == 1.0
    assert learning_rate_factor(TRAINING, 500, 0) == pytest.approx((1 + FINAL_LR_FRACTION) / 2, abs=0.01)
    assert learning_rate_factor(TRAINING, 1000, 0) == pytest.approx(FINAL_LR_FRACTION)


def test_a_resume_without_optimizer_state_warms_up_again_under_the_same_decay():
    resumed = [learning_rate_factor(TRAINING, step, 600) for step in (600, 650, 700)]
    uninterrupted = learning_rate_factor(TRAINING, 700, 0)
    assert resumed[0] < 0.02 and resumed[1] < uninterrupted and resumed[2] == pytest.approx(uninterrupted)


def test_constant_when_the_recipe_asks_for_nothing():
    assert learning_rate_factor(StageTraining(steps=10), 7, 0) == 1.0


def test_set_learning_rate_scales_the_base_rate_each_time():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    set_learning_rate({"o": optimizer}, 0.5)
    set_learning_rate({"o": optimizer}, 0.2)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.02)
