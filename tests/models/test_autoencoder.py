"""Tests of the MSG-LDM stage-0 VQ autoencoder and its codebook quantizer (tiny widths, CPU)."""

from __future__ import annotations

import pytest
import torch

from models.networks.autoencoder import VQAutoencoder
from models.networks.quantizer import CodebookQuantizer

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_autoencoder(channels=(8, 16, 16), seed: int = 0, **kwargs) -> VQAutoencoder:
    torch.manual_seed(seed)
    kwargs.setdefault("num_embeddings", 32)
    return VQAutoencoder(channels=channels, norm_num_groups=8, **kwargs)


def smooth_images(size: int = 32) -> torch.Tensor:
    """Two smooth single-channel images in [-1, 1], (2, 1, size, size)."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    blob = torch.tanh(4 * (0.5 - (xx**2 + yy**2)))
    waves = torch.sin(3 * xx) * torch.cos(2 * yy)
    return torch.stack([blob, waves])[:, None]


@pytest.mark.parametrize(("channels", "factor"), [((8, 16, 16), 4), ((8, 8, 16, 16), 8)])
def test_encode_decode_shapes_follow_the_downsampling_factor(channels, factor):
    model = tiny_autoencoder(channels).eval()
    assert model.downsample_factor == factor
    x = torch.rand(2, 1, 32, 64) * 2 - 1
    with torch.no_grad():
        z = model.encode_pre_quantization(x)
        z_q = model.encode(x)
        recon = model.decode(z_q)
        forward_recon, vq_loss = model(x)
    assert z.shape == z_q.shape == (2, 4, 32 // factor, 64 // factor)
    assert recon.shape == forward_recon.shape == x.shape
    assert vq_loss.ndim == 0 and torch.isfinite(vq_loss)
    assert model.last_layer.shape == (1, channels[0], 3, 3)


def test_quantized_latent_lies_on_codebook_entries():
    model = tiny_autoencoder().eval()
    x = smooth_images()
    with torch.no_grad():
        z_q = model.encode(x)
        _, _, indices = model.quantize(model.encode_pre_quantization(x))
    codebook = model.quantizer.embedding.weight
    vectors = z_q.movedim(1, -1).reshape(-1, 4)
    assert torch.equal(vectors, codebook[indices.flatten()])
    # with gradients on, the straight-through output still equals the entries numerically
    z_q_grad = model.encode(x).movedim(1, -1).reshape(-1, 4)
    torch.testing.assert_close(z_q_grad, codebook[indices.flatten()].detach(), rtol=0, atol=1e-6)


def test_straight_through_gradient_reaches_encoder_and_codebook():
    model = tiny_autoencoder()
    recon, vq_loss = model(smooth_images())
    (recon.abs().mean() + vq_loss).backward()
    assert model.encoder.blocks[0].conv.weight.grad.abs().sum() > 0
    assert model.quantizer.embedding.weight.grad.abs().sum() > 0
    assert model.last_layer.grad.abs().sum() > 0


@pytest.mark.parametrize("legacy", [True, False])
def test_vq_loss_weights_commitment_and_codebook_terms_like_taming(legacy):
    quantizer = CodebookQuantizer(8, 2, commitment_cost=0.25, legacy=legacy, restart_after_steps=None)
    z = torch.randn(3, 2, 4, 4)
    z_q, loss, indices = quantizer(z)
    # both terms have the value mean((z_q - z)**2); only their gradients differ between the weightings
    torch.testing.assert_close(loss, 1.25 * torch.mean((z_q - z) ** 2))
    z = z.requires_grad_()
    _, loss, _ = quantizer(z)
    loss.backward()
    direct = 2 * (z - quantizer.embedding.weight[indices].movedim(-1, 1)) / z.numel()
    scale = 1.0 if legacy else 0.25  # the commitment term's weight
    torch.testing.assert_close(z.grad, scale * direct.detach())


def test_dead_codes_restart_from_encoder_outputs():
    torch.manual_seed(0)
    quantizer = CodebookQuantizer(16, 4, restart_after_steps=2).train()
    z = torch.randn(2, 4, 4, 4) + 5.0  # far from the tiny initial codebook: one code wins, the others idle
    quantizer(z)
    before_used = torch.unique(quantizer(z)[2]).numel()
    idle = quantizer.steps_unused >= 2
    assert idle.sum() >= 12
    after_used = torch.unique(quantizer(z)[2]).numel()  # the idle codes are restarted before this pass quantizes
    inputs = z.movedim(1, -1).reshape(-1, 4)
    on_an_input = (quantizer.embedding.weight.detach()[:, None, :] == inputs[None]).all(dim=-1).any(dim=-1)
    assert on_an_input[idle].all()  # every idle code was re-seeded from an encoder output
    assert not on_an_input[~idle].any()  # the codes in use were left alone
    assert after_used > before_used


def test_no_restart_in_eval_mode_or_when_disabled():
    z = torch.randn(2, 4, 4, 4) + 5.0
    for quantizer in (
        CodebookQuantizer(16, 4, restart_after_steps=1).eval(),
        CodebookQuantizer(16, 4, restart_after_steps=None),
    ):
        before = quantizer.embedding.weight.detach().clone()
        for _ in range(3):
            quantizer(z)
        assert torch.equal(quantizer.embedding.weight, before)


def test_invalid_configurations_and_sizes_are_rejected():
    with pytest.raises(ValueError, match="norm_num_groups"):
        VQAutoencoder(channels=(8, 12), norm_num_groups=8)
    model = tiny_autoencoder()
    with pytest.raises(ValueError, match="not divisible"):
        model(torch.zeros(1, 1, 30, 32))


def test_reference_configuration_parameter_counts_match_the_reference_code():
    model = VQAutoencoder(channels=(128, 128, 256, 512), num_res_blocks=2)
    assert sum(p.numel() for p in model.encoder.parameters()) / 1e6 == pytest.approx(23.08, abs=0.01)
    assert sum(p.numel() for p in model.decoder.parameters()) / 1e6 == pytest.approx(34.00, abs=0.01)
    assert model.downsample_factor == 8


def test_tiny_autoencoder_overfits_one_batch():
    model = tiny_autoencoder(restart_after_steps=20)
    x = smooth_images()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(100):
        recon, vq_loss = model(x)
        l1 = torch.mean(torch.abs(recon - x))
        optimizer.zero_grad()
        (l1 + vq_loss).backward()
        optimizer.step()
        losses.append(l1.item())
    assert losses[0] / losses[-1] > 5
