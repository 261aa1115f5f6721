"""The diffusion EMA follows the weights early in a run and averages slowly later."""

import torch
from torch.optim.swa_utils import AveragedModel

from models.training.schedule import warmup_ema


def _averaged_after(steps: int, decay: float) -> float:
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = AveragedModel(model, multi_avg_fn=warmup_ema(decay))
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(steps):
        ema.update_parameters(model)
    return ema.module.weight.detach().item()


def test_short_runs_track_the_weights_instead_of_the_initialisation():
    # After 100 updates of weights that moved from 0 to 1, a fixed 0.999 EMA would still be near 0.1.
    assert _averaged_after(100, 0.999) > 0.8


def test_the_full_decay_applies_late():
    model = torch.nn.Linear(1, 1, bias=False)
    ema = AveragedModel(model, multi_avg_fn=warmup_ema(0.99))
    ema.n_averaged.fill_(100000)
    before = ema.module.weight.detach().item()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update_parameters(model)
    assert abs(ema.module.weight.detach().item() - before - 0.01) < 1e-4
