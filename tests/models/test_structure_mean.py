"""The deterministic mean of the second generation: missing contrasts from the present ones only."""

import torch

from models.networks.structure_mean import StructureMeanNetwork
from models.training.mean_stage import mean_availability


def _network() -> StructureMeanNetwork:
    torch.manual_seed(0)
    return StructureMeanNetwork(
        num_contrasts=4, base_channels=4, structure_channels=16, decoder_channels=16, style_channels=4
    ).eval()


def test_a_missing_contrast_cannot_reach_the_prediction():
    network = _network()
    images = torch.rand(2, 4, 64, 64) * 2 - 1
    available = torch.tensor([[True, True, True, False], [True, False, True, False]])
    before = network.predict(images, available, wanted=[1, 3])
    changed = images.clone()
    changed[0, 3] = float("nan")
    changed[1, 1] = 5.0
    changed[1, 3] = -7.0
    after = network.predict(changed, available, wanted=[1, 3])
    assert before.shape == (2, 2, 64, 64)
    assert torch.equal(before, after)


def test_present_contrasts_keep_their_own_style_and_missing_ones_get_the_predictors():
    network = _network()
    images = torch.rand(3, 4, 64, 64) * 2 - 1
    available = torch.tensor([[True, False, True, True]] * 3)
    with torch.no_grad():
        out = network.predict(images, available)
        own = network.own_styles(images, available)
    assert torch.equal(out.style_codes[:, [0, 2, 3]], own[:, [0, 2, 3]])
    assert torch.equal(out.style_codes[:, 1], out.predicted_styles[:, 1])
    assert out.images.shape == (3, 4, 64, 64) and out.images.abs().max() <= 1


def test_half_the_masks_hide_exactly_one_contrast_and_one_always_stays():
    masks = mean_availability(4000, 4, torch.Generator().manual_seed(0))
    hidden = (~masks).sum(dim=1)
    assert hidden.min() >= 1 and hidden.max() <= 3
    assert 0.45 < (hidden == 1).float().mean() < 0.55
    assert (hidden == 2).any() and (hidden == 3).any()
