"""The sampler: deterministic for a seed, observed latents kept, every scheduler runs."""

import pytest
import torch

from models.build import build_ddim, build_ddpm, build_unet
from models.diffusion.latents import latent_channel_mask, random_availability
from models.diffusion.sampler import sample_latents


def _inputs(config, seed=0):
    generator = torch.Generator().manual_seed(seed)
    unet = build_unet(config).eval()
    condition = torch.randn(2, config.structure.structure_channels, 8, 8, generator=generator)
    noise = torch.randn(2, 16, 8, 8, generator=generator)
    observed = torch.randn(2, 16, 8, 8, generator=generator)
    mask = latent_channel_mask(torch.tensor([[True, False, True, False], [False, False, False, True]]), 4)
    return unet, condition, noise, observed, mask


def _run(config, scheduler, seed=0, **kwargs):
    unet, condition, noise, observed, mask = _inputs(config)
    generator = torch.Generator().manual_seed(seed)
    return (
        sample_latents(
            unet, scheduler, condition, noise, observed=observed, observed_mask=mask, generator=generator, **kwargs
        ),
        observed,
        mask,
    )


def test_ddim_is_deterministic_for_a_seed(tiny_config):
    torch.manual_seed(0)
    a, _, _ = _run(tiny_config, _ddim(tiny_config, 4), eta=1.0)
    torch.manual_seed(0)
    b, _, _ = _run(tiny_config, _ddim(tiny_config, 4), eta=1.0)
    c, _, _ = _run(tiny_config, _ddim(tiny_config, 4), seed=1, eta=1.0)
    assert torch.equal(a, b) and not torch.equal(a, c)


def _ddim(config, steps):
    scheduler = build_ddim(config)
    scheduler.set_timesteps(steps)
    return scheduler


def test_replacement_returns_the_observed_latents_exactly(tiny_config):
    out, observed, mask = _run(tiny_config, _ddim(tiny_config, 3))
    assert torch.equal(torch.where(mask, out, 0), torch.where(mask, observed, 0))
    free, _, _ = _run(tiny_config, _ddim(tiny_config, 3), replace_observed=False)
    assert not torch.equal(torch.where(mask, free, 0), torch.where(mask, observed, 0))


def test_ddpm_reference_sampler_runs_and_reports_progress(tiny_config):
    scheduler = build_ddpm(tiny_config)
    scheduler.set_timesteps(1000)
    seen = []
    out, _, _ = _run(tiny_config, scheduler, progress=lambda i, n: seen.append((i, n)))
    assert seen[-1] == (1000, 1000) and torch.isfinite(out).all()


def test_random_availability_always_keeps_one_contrast():
    masks = random_availability(500, 4, torch.Generator().manual_seed(3))
    counts = masks.sum(dim=1)
    assert counts.min() == 1 and counts.max() == 4
    assert set(counts.tolist()) == {1, 2, 3, 4}


def test_shared_noise_makes_identical_slices_come_out_identical(tiny_config):
    """Slices that share their condition and their noise (start and replacement) get the same latents."""
    unet, condition, noise, observed, mask = _inputs(tiny_config)
    torch.manual_seed(0)
    for parameter in unet.parameters():  # the output layer starts at zero: the noise would not matter at all
        if not parameter.any():
            parameter.data.normal_(0.0, 0.1)
    condition, observed = condition[:1].expand(2, -1, -1, -1), observed[:1].expand(2, -1, -1, -1)
    noise, mask = noise[:1].expand(2, -1, -1, -1), mask[:1].expand(2, -1, -1, -1)

    def run(shared: bool) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return sample_latents(
            unet,
            _ddim(tiny_config, 3),
            condition,
            noise,
            observed=observed,
            observed_mask=mask,
            generator=generator,
            shared_noise=shared,
        )

    shared, independent = run(True), run(False)
    assert torch.equal(shared[0], shared[1])
    assert not torch.equal(independent[0], independent[1]), "independent replacement noise differs per slice"


def test_sampler_options_parse_into_settings():
    from models.config import SamplerConfig
    from models.sampler_spec import parse_samplers, sampler_label

    samplers = parse_samplers("ddim:20,ddim:10:shared,ddim:20:noreplace,ddpm:1000,ddim:50:eta1", SamplerConfig())
    assert [sampler_label(s) for s in samplers] == [
        "msgldm-ddim20",
        "msgldm-ddim10-shared",
        "msgldm-ddim20-noreplace",
        "msgldm-ddpm1000",
        "msgldm-ddim50-eta1",
    ]
    assert samplers[1].shared_noise and not samplers[2].replace_observed
    assert samplers[4].eta == 1.0 and samplers[0].eta == 0.0
    with pytest.raises(ValueError, match="option 'twice'"):
        parse_samplers("ddim:20:twice", SamplerConfig())
    with pytest.raises(ValueError, match="'etax' is not eta followed by a number"):
        parse_samplers("ddim:20:etax", SamplerConfig())
    residual = parse_samplers("mean,onestep,onestep:image,ddim:10:shared:image", SamplerConfig())
    assert [sampler_label(s) for s in residual] == [
        "msgldm-mean",
        "msgldm-onestep",
        "msgldm-onestep-image",
        "msgldm-ddim10-shared-image",
    ]
    assert [s.image_residual for s in residual] == [False, False, True, True]
    with pytest.raises(ValueError, match="onestep takes only the option image"):
        parse_samplers("onestep:shared", SamplerConfig())
    with pytest.raises(ValueError, match="mean takes no option"):
        parse_samplers("mean:image", SamplerConfig())
