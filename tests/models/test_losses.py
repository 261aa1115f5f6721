"""Tests of the MSG-LDM stage-0 and stage-1 losses (CPU)."""

from __future__ import annotations

import math

import pytest
import scipy.fft
import torch
from monai.metrics.regression import compute_ssim_and_cs

from models.losses.autoencoder_loss import AutoencoderLoss, adaptive_weight, gradient_l1
from models.losses.dct import dct2, dct_matrix, idct2
from models.losses.frequency_ssim import FrequencySSIMLoss, ssim_map
from models.losses.segmentation_loss import BCEDiceLoss
from models.losses.structure_loss import StructureLoss, adain_kl, brats_label_channels
from models.losses.style_contrastive import StyleContrastiveLoss
from models.networks.autoencoder import VQAutoencoder
from models.networks.structure_network import StructureNetwork

pytestmark = pytest.mark.usefixtures("single_thread")


def test_dct_matrix_is_orthonormal():
    for n in (1, 5, 16):
        matrix = dct_matrix(n, dtype=torch.float64)
        torch.testing.assert_close(matrix @ matrix.t(), torch.eye(n, dtype=torch.float64))


def test_dct2_round_trips_with_its_transpose_and_keeps_energy():
    x = torch.randn(2, 3, 12, 20, dtype=torch.float64)
    coefficients = dct2(x)
    torch.testing.assert_close(idct2(coefficients), x)
    torch.testing.assert_close(coefficients.pow(2).sum(dim=(-2, -1)), x.pow(2).sum(dim=(-2, -1)))


def test_dct2_matches_scipy_orthonormal_dct_ii():
    x = torch.randn(7, 9, dtype=torch.float64)
    expected = scipy.fft.dctn(x.numpy(), type=2, norm="ortho")
    torch.testing.assert_close(dct2(x), torch.from_numpy(expected))
    constant = torch.full((4, 4), 3.0, dtype=torch.float64)
    dc_only = torch.zeros(4, 4, dtype=torch.float64)
    dc_only[0, 0] = 12.0  # 3 * sqrt(16)
    torch.testing.assert_close(dct2(constant), dc_only)


def test_brats_labels_map_to_background_whole_core_and_enhancing_channels():
    labels = torch.tensor([[[0, 1], [2, 4]]])
    channels = brats_label_channels(labels)
    assert channels.shape == (1, 4, 2, 2) and channels.dtype == torch.float32
    expected = torch.tensor(
        [
            [[1, 0], [0, 0]],  # BG
            [[0, 1], [1, 1]],  # WT = {1, 2, 4}
            [[0, 1], [0, 1]],  # TC = {1, 4}
            [[0, 0], [0, 1]],  # ET = {4}
        ],
        dtype=torch.float32,
    )
    assert torch.equal(channels[0], expected)
    assert torch.equal(brats_label_channels(torch.tensor([[[0, 1], [2, 3]]]), enhancing_label=3), channels)


def test_unexpected_brats_label_values_are_rejected():
    with pytest.raises(ValueError, match=r"\[3\]"):
        brats_label_channels(torch.tensor([[[0, 3], [2, 4]]]))


def test_bce_dice_is_small_for_confident_correct_logits_and_matches_the_reference_formula():
    target = brats_label_channels(torch.randint(0, 3, (2, 8, 8)))
    loss_fn = BCEDiceLoss()
    assert loss_fn(20 * (2 * target - 1), target) < 1e-3
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    loss = loss_fn(logits, target)
    probs = torch.sigmoid(logits).reshape(2, -1)
    flat = target.reshape(2, -1)
    dice = (2 * (probs * flat).sum(1) + 1e-5) / (probs.sum(1) + flat.sum(1) + 1e-5)
    expected = 0.5 * torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + 1 - dice.mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_style_contrastive_scale_is_a_fixed_buffer_and_the_loss_prefers_grouped_codes():
    loss_fn = StyleContrastiveLoss()
    assert float(loss_fn.scale) == pytest.approx(1 / 0.07)
    assert list(loss_fn.parameters()) == [] and "scale" in dict(loss_fn.named_buffers())
    batch, contrasts = 3, 4
    grouped = torch.eye(8)[:contrasts][None].repeat(batch, 1, 1) + 0.01 * torch.randn(batch, contrasts, 8)
    mixed = torch.randn(batch, contrasts, 8, requires_grad=True)
    assert loss_fn(grouped) < loss_fn(mixed)
    codes = torch.nn.functional.normalize(mixed.transpose(0, 1).reshape(-1, 8), dim=1)
    group = torch.arange(contrasts).repeat_interleave(batch)
    target = (group[:, None] == group[None, :]).float()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(codes @ codes.t() / 0.07, target)
    loss = loss_fn(mixed)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert mixed.grad.abs().sum() > 0


def test_adain_kl_is_zero_at_the_standard_normal_and_sums_channels_and_contrasts():
    assert adain_kl(torch.zeros(2, 3, 5), torch.zeros(2, 3, 5)) == 0
    mu = torch.ones(2, 3, 5)
    # 0.5 * (1 + 1 - 1 - 0) per channel, 5 channels, 3 contrasts
    assert float(adain_kl(mu, torch.zeros(2, 3, 5))) == pytest.approx(0.5 * 5 * 3)


def test_frequency_ssim_is_zero_for_equal_images_and_has_gradients():
    loss_fn = FrequencySSIMLoss()
    target = torch.rand(2, 1, 24, 24) * 2 - 1
    assert float(loss_fn(target.clone(), target)) == pytest.approx(0.0, abs=1e-5)
    prediction = (torch.rand(2, 1, 24, 24) * 2 - 1).requires_grad_()
    loss = loss_fn(prediction, target)
    assert 0 < float(loss.detach()) <= 2
    loss.backward()
    assert torch.isfinite(prediction.grad).all() and prediction.grad.abs().sum() > 0


def test_separable_ssim_matches_monai_ssim_per_channel():
    x = torch.rand(2, 3, 20, 24)
    y = torch.rand(2, 3, 20, 24)
    ranges = torch.tensor([1.0, 2.0, 0.5])
    ours = ssim_map(x, y, ranges.view(1, -1, 1, 1))
    for c in range(3):
        monai_map, _ = compute_ssim_and_cs(
            x[:, c : c + 1], y[:, c : c + 1], 2, (11, 11), (1.5, 1.5), data_range=float(ranges[c])
        )
        torch.testing.assert_close(ours[:, c : c + 1], monai_map, rtol=1e-4, atol=1e-5)


def test_frequency_ssim_of_several_contrasts_is_the_sum_of_per_contrast_losses():
    loss_fn = FrequencySSIMLoss()
    prediction = torch.rand(2, 4, 16, 16) * 2 - 1
    target = torch.rand(2, 4, 16, 16) * 2 - 1
    target[:, 1] *= 0.1  # a contrast with a much smaller amplitude range
    separate = sum(loss_fn(prediction[:, m : m + 1], target[:, m : m + 1]) for m in range(4))
    torch.testing.assert_close(loss_fn(prediction, target), separate)


def tiny_structure_batch(seed: int = 0):
    torch.manual_seed(seed)
    net = StructureNetwork(base_channels=4)
    images = torch.rand(2, 4, 32, 32) * 2 - 1
    labels = torch.tensor([0, 1, 2, 4])[torch.randint(0, 4, (2, 32, 32))]
    available = torch.tensor([[1, 0, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    return net, net(images, available), images, labels


def test_structure_loss_is_finite_weighted_and_reaches_every_trained_module():
    net, output, images, labels = tiny_structure_batch()
    loss_fn = StructureLoss()
    loss, terms = loss_fn(output, images, labels)
    assert set(terms) == {"rec", "freq", "seg", "style", "kl", "total"}
    assert all(math.isfinite(v) for v in terms.values())
    expected = terms["rec"] + terms["freq"] + 2.0 * terms["seg"] + 0.1 * terms["style"] + 0.05 * terms["kl"]
    assert terms["total"] == pytest.approx(expected, rel=1e-5)
    loss.backward()
    for module in (net.structure_encoders[0], net.style_encoders[3], net.image_decoders[1], net.segmentation_decoder):
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and sum(g.abs().sum() for g in grads) > 0


def test_structure_loss_without_labels_drops_the_segmentation_term():
    _, output, images, labels = tiny_structure_batch()
    loss_fn = StructureLoss()
    with_seg, terms = loss_fn(output, images, labels)
    without_seg, terms_none = loss_fn(output, images, None)
    assert terms_none["seg"] == 0
    assert float((with_seg - without_seg).detach()) == pytest.approx(2.0 * terms["seg"], rel=1e-4)
    channels, _ = loss_fn(output, images, brats_label_channels(labels))
    torch.testing.assert_close(channels, with_seg)


def tiny_autoencoder_batch():
    torch.manual_seed(0)
    model = VQAutoencoder(channels=(8, 16), norm_num_groups=8, num_embeddings=16)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    recon, vq_loss = model(x)
    return model, x, recon, vq_loss


def test_generator_loss_has_no_adversarial_term_before_disc_start():
    model, x, recon, vq_loss = tiny_autoencoder_batch()
    loss_fn = AutoencoderLoss(disc_start=10, disc_channels=8)
    calls = []
    loss_fn.discriminator.register_forward_hook(lambda *_: calls.append(1))
    loss, terms = loss_fn.generator_loss(x, recon, vq_loss, model.last_layer, step=9)
    assert calls == [] and terms["disc_factor"] == 0 and terms["g_adv"] == 0
    assert terms["total"] == pytest.approx(terms["nll"] + terms["vq"], rel=1e-6)
    expected_nll = terms["l1"] + terms["ssim"] + terms["gradient"]
    assert terms["nll"] == pytest.approx(expected_nll, rel=1e-6)
    loss.backward()
    assert model.encoder.blocks[0].conv.weight.grad.abs().sum() > 0


def test_generator_loss_uses_taming_adaptive_weight_after_disc_start():
    model, x, recon, vq_loss = tiny_autoencoder_batch()
    loss_fn = AutoencoderLoss(disc_start=0, disc_channels=8)
    loss, terms = loss_fn.generator_loss(x, recon, vq_loss, model.last_layer, step=0)
    assert terms["disc_factor"] == 1 and terms["d_weight"] > 0
    nll = torch.mean(torch.abs(x - recon)) + loss_fn.ssim(recon, x) + gradient_l1(recon, x)
    g_adv = -torch.mean(loss_fn.discriminator(recon)[-1])
    nll_grad = torch.autograd.grad(nll, model.last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_adv, model.last_layer, retain_graph=True)[0]
    expected = float(nll_grad.norm() / (g_grad.norm() + 1e-4))
    assert terms["d_weight"] == pytest.approx(expected, rel=1e-4)
    assert terms["total"] == pytest.approx(terms["nll"] + terms["vq"] + expected * terms["g_adv"], rel=1e-4)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_adaptive_weight_falls_back_to_zero_without_gradients():
    model, x, _, _ = tiny_autoencoder_batch()
    loss_fn = AutoencoderLoss(disc_channels=8)
    model.eval()
    with torch.no_grad():
        recon, vq_loss = model(x)
        _, terms = loss_fn.generator_loss(x, recon, vq_loss, model.last_layer, step=100)
    assert terms["d_weight"] == 0 and math.isfinite(terms["total"])
    unrelated = torch.zeros(3, requires_grad=True)
    assert adaptive_weight(unrelated.sum(), unrelated.sum() * 2, torch.ones(2, requires_grad=True)) == 0


def test_discriminator_loss_is_hinge_and_trains_only_the_discriminator():
    model, x, recon, _ = tiny_autoencoder_batch()
    loss_fn = AutoencoderLoss(disc_channels=8)
    loss, terms = loss_fn.discriminator_loss(x, recon, step=0)
    assert terms["total"] == pytest.approx(0.5 * (terms["d_real"] + terms["d_fake"]), rel=1e-6)
    assert terms["d_real"] >= 0 and terms["d_fake"] >= 0
    loss.backward()
    assert all(p.grad is None for p in model.parameters())
    assert sum(p.grad.abs().sum() for p in loss_fn.discriminator.parameters()) > 0


def test_discriminator_loss_before_disc_start_is_a_harmless_zero():
    _, x, recon, _ = tiny_autoencoder_batch()
    loss_fn = AutoencoderLoss(disc_start=5, disc_channels=8)
    loss, terms = loss_fn.discriminator_loss(x, recon, step=4)
    assert float(loss.detach()) == 0 and terms["disc_factor"] == 0
    loss.backward()
    assert all(float(p.grad.abs().sum()) == 0 for p in loss_fn.discriminator.parameters())
