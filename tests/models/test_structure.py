"""Tests of the MSG-LDM stage-1 structure network and its blocks (tiny widths, CPU)."""

from __future__ import annotations

import itertools

import pytest
import torch

from models.losses.structure_loss import StructureLoss
from models.networks.fusion import MultiModalStructureFusion
from models.networks.hfib import HighFrequencyInjectionBlock
from models.networks.msse import MultiScaleStructureEnhancement
from models.networks.segmentation_decoder import SegmentationDecoder
from models.networks.structure_encoder import StructureEncoder
from models.networks.structure_network import StructureNetwork
from models.networks.style import AdaINDecoder, StyleEncoder

pytestmark = pytest.mark.usefixtures("single_thread")


CONTRASTS = 4
SIZE = 32
BASE = 4


def all_nonempty_subsets(contrasts: int = CONTRASTS) -> torch.Tensor:
    """Every non-empty availability mask, one per row: (2**M - 1, M) bool."""
    rows = [bits for bits in itertools.product([False, True], repeat=contrasts) if any(bits)]
    return torch.tensor(rows)


def tiny_network(seed: int = 0, **kwargs) -> StructureNetwork:
    torch.manual_seed(seed)
    return StructureNetwork(num_contrasts=CONTRASTS, base_channels=BASE, **kwargs)


def random_images(batch: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, CONTRASTS, SIZE, SIZE, generator=generator) * 2 - 1


def test_every_output_has_its_shape_for_every_subset_of_present_contrasts():
    net = tiny_network().eval()
    masks = all_nonempty_subsets()
    assert masks.shape == (15, CONTRASTS)
    images = random_images(len(masks))
    with torch.no_grad():
        out = net(images, masks)
    batch, f = len(masks), SIZE // 8
    assert out.fused.shape == (batch, 8 * BASE, f, f)
    assert out.reconstructions.shape == (batch, CONTRASTS, SIZE, SIZE)
    assert out.segmentation_logits.shape == (batch, 4, SIZE, SIZE)
    assert out.style_codes.shape == (batch, CONTRASTS, 8)
    assert out.adain_mu.shape == out.adain_logvar.shape == (batch, CONTRASTS, 8 * BASE)
    for level, feature in enumerate(out.scale_features):
        assert feature.shape == (batch, BASE * 2**level, SIZE // 2**level, SIZE // 2**level)
    assert torch.equal(out.available, masks)
    assert out.reconstructions.abs().max() <= 1.0
    for tensor in (out.fused, out.reconstructions, out.segmentation_logits, out.adain_logvar):
        assert torch.isfinite(tensor).all()


@pytest.mark.parametrize("mask", all_nonempty_subsets().tolist(), ids=lambda m: "".join(str(int(b)) for b in m))
def test_structure_path_matches_forward_for_each_subset(mask):
    net = tiny_network().eval()
    images = random_images(2)
    available = torch.tensor([mask, mask])
    with torch.no_grad():
        fused = net.structure(images, available)
        full = net(images, available).fused
    assert fused.shape == (2, 8 * BASE, SIZE // 8, SIZE // 8)
    torch.testing.assert_close(fused, full, rtol=0, atol=0)


def test_structure_of_a_sample_does_not_depend_on_its_batch_mates():
    net = tiny_network().eval()
    masks = all_nonempty_subsets()
    images = random_images(len(masks))
    with torch.no_grad():
        batched = net.structure(images, masks)
        alone = torch.cat([net.structure(images[i : i + 1], masks[i : i + 1]) for i in range(len(masks))])
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-4)


def test_structure_width_can_differ_from_the_coarsest_scale():
    net = tiny_network(structure_channels=12, decoder_channels=16, style_channels=2).eval()
    with torch.no_grad():
        out = net(random_images(2), torch.ones(2, CONTRASTS, dtype=torch.bool))
    assert out.fused.shape == (2, 12, SIZE // 8, SIZE // 8)
    assert out.adain_mu.shape == (2, CONTRASTS, 16)
    assert out.reconstructions.shape == (2, CONTRASTS, SIZE, SIZE)


@pytest.mark.parametrize("poison", ["random", "nan", "inf"])
def test_pixels_of_a_missing_contrast_cannot_change_the_structure_map(poison):
    net = tiny_network().eval()
    images = random_images(3)
    available = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    altered = images.clone()
    missing = ~available
    fill = {"random": torch.randn_like(images) * 50, "nan": torch.full_like(images, float("nan"))}
    fill["inf"] = torch.full_like(images, float("inf"))
    altered[missing] = fill[poison][missing]
    with torch.no_grad():
        reference = net.structure(images, available)
        assert torch.equal(net.structure(altered, available), reference)
        assert torch.equal(net(altered, available).fused, reference)


def test_missing_contrast_pixels_cannot_change_the_structure_map_in_training_mode():
    net = tiny_network().train()
    images = random_images(2)
    available = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.bool)
    altered = images.clone()
    altered[~available] = 7.0
    torch.manual_seed(5)
    reference = net.structure(images, available)
    torch.manual_seed(5)
    assert torch.equal(net.structure(altered, available), reference)


def test_missing_contrasts_reach_fusion_as_zero_maps_at_all_four_scales():
    net = tiny_network().eval()
    available = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.bool)
    received = []
    for fusion in net.fusions:
        fusion.register_forward_pre_hook(lambda _, args: received.append(args[0]))
    with torch.no_grad():
        net.structure(random_images(2), available)
    assert len(received) == 4
    for maps in received:
        for contrast, feature in enumerate(maps):
            for sample in range(2):
                is_zero = bool((feature[sample] == 0).all())
                assert is_zero != bool(available[sample, contrast])


def test_pixels_of_a_present_contrast_do_change_the_structure_map():
    net = tiny_network().eval()
    images = random_images(2)
    available = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.bool)
    altered = images.clone()
    altered[0, 2] = torch.flip(altered[0, 2], dims=[0])
    with torch.no_grad():
        delta = net.structure(altered, available) - net.structure(images, available)
    assert delta[0].abs().max() > 1e-4
    assert delta[1].abs().max() == 0


def test_structure_path_runs_no_style_encoder_decoder_or_segmentation():
    net = tiny_network().eval()
    calls = []
    for module in [*net.style_encoders, *net.image_decoders, net.segmentation_decoder]:
        module.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        net.structure(random_images(1), torch.ones(1, CONTRASTS, dtype=torch.bool))
    assert calls == []
    with torch.no_grad():
        net(random_images(1), torch.ones(1, CONTRASTS, dtype=torch.bool))
    assert len(calls) == 2 * CONTRASTS + 1


def test_network_also_builds_and_runs_in_3d():
    torch.manual_seed(0)
    net = StructureNetwork(base_channels=2, spatial_dims=3).eval()
    with torch.no_grad():
        out = net(torch.rand(1, CONTRASTS, 32, 32, 32), torch.tensor([[1, 0, 1, 1]]))
    assert out.fused.shape == (1, 16, 4, 4, 4)
    assert out.reconstructions.shape == out.segmentation_logits.shape == (1, 4, 32, 32, 32)


def test_invalid_inputs_are_rejected():
    net = tiny_network().eval()
    images = random_images(2)
    with pytest.raises(ValueError, match="at least one available"):
        net.structure(images, torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="available must be"):
        net.structure(images, torch.ones(2, 3))
    with pytest.raises(ValueError, match="not divisible"):
        net.structure(torch.zeros(1, CONTRASTS, 36, 36), torch.ones(1, CONTRASTS))
    with pytest.raises(ValueError, match="images must be"):
        net.structure(torch.zeros(1, 3, SIZE, SIZE), torch.ones(1, 3))
    with pytest.raises(ValueError, match="too small"):
        net(torch.zeros(1, CONTRASTS, 16, 16), torch.ones(1, CONTRASTS))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("sigma", [1.0, 0.4, 3.0, -5.0])
def test_hfib_high_frequency_branch_is_zero_on_a_constant_map(spatial_dims, sigma):
    block = HighFrequencyInjectionBlock(spatial_dims, channels=3)
    with torch.no_grad():
        block.blur.sigma.fill_(sigma)  # -5 exercises the clamp at 1e-3
    constant = torch.full((2, 3, *([6] * spatial_dims)), 0.7)
    constant[1] = -2.5
    edge = block.high_frequency(constant)
    assert edge.shape == constant.shape
    assert edge.abs().max() <= 1e-6


def test_hfib_high_frequency_branch_responds_to_edges_and_trains_sigma():
    block = HighFrequencyInjectionBlock(2, channels=2)
    step = torch.zeros(1, 2, 8, 8)
    step[..., 4:] = 1.0
    edge = block.high_frequency(step)
    assert edge.abs().max() > 0.1
    assert edge[..., :2].abs().max() <= 1e-6  # flat region away from the step
    block(step).sum().backward()
    assert block.blur.sigma.grad is not None and block.blur.sigma.grad.abs() > 0
    kernel = block.blur.kernel()
    assert kernel.shape == (3, 3)
    torch.testing.assert_close(kernel.sum(), torch.tensor(1.0))
    assert block(step).shape == step.shape


def test_structure_encoder_gives_four_scales():
    encoder = StructureEncoder(2, 1, base_channels=BASE)
    features = encoder(torch.randn(2, 1, SIZE, SIZE))
    assert [tuple(f.shape) for f in features] == [
        (2, BASE * 2**level, SIZE // 2**level, SIZE // 2**level) for level in range(4)
    ]


def test_mmsf_fuses_contrast_maps_into_one_map():
    fusion = MultiModalStructureFusion(2, channels=6, num_contrasts=3)
    maps = [torch.randn(2, 6, 8, 8) for _ in range(3)]
    assert fusion(maps).shape == (2, 6, 8, 8)
    with pytest.raises(ValueError):
        fusion(maps[:2])


def test_msse_shapes_and_alpha_zero_returns_the_coarsest_map():
    widths = (4, 8, 16, 32)
    maps = [torch.randn(2, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate(widths)]
    msse = MultiScaleStructureEnhancement(2, widths, num_heads=4, alpha=0.0)
    assert torch.equal(msse(maps), maps[-1])
    msse = MultiScaleStructureEnhancement(2, widths, out_channels=16, num_heads=4, alpha=0.5)
    out = msse(maps)
    assert out.shape == (2, 16, 4, 4)
    assert not torch.allclose(out, msse.residual(maps[-1]))
    with pytest.raises(ValueError, match="divisible"):
        MultiScaleStructureEnhancement(2, widths, out_channels=10, num_heads=4)


def test_style_encoder_gives_a_nonzero_code_from_a_single_image():
    encoder = StyleEncoder(2, 1, channels=4, style_dim=8)
    codes = encoder(torch.randn(1, 1, SIZE, SIZE))  # a normalised 1x1 head would raise or give zeros here
    assert codes.shape == (1, 8)
    assert codes.abs().max() > 0


def test_adain_decoder_and_segmentation_decoder_shapes():
    decoder = AdaINDecoder(2, in_channels=32, channels=32, style_dim=8)
    image, mu, sigma = decoder(torch.randn(2, 32, 4, 4), torch.randn(2, 8))
    assert image.shape == (2, 1, 32, 32) and mu.shape == sigma.shape == (2, 32)
    seg = SegmentationDecoder(2, (4, 8, 16, 32), num_classes=4)
    maps = [torch.randn(2, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate((4, 8, 16, 32))]
    assert seg(maps).shape == (2, 4, 32, 32)


def test_reference_width_parameter_counts_match_the_reference_code():
    net = StructureNetwork(base_channels=32)

    def millions(module: torch.nn.Module) -> float:
        return sum(p.numel() for p in module.parameters()) / 1e6

    assert millions(net) == pytest.approx(42.38, abs=0.01)
    assert millions(net.structure_encoders[0]) == pytest.approx(3.52, abs=0.01)
    assert millions(net.style_encoders[0]) == pytest.approx(0.69, abs=0.01)
    assert millions(net.image_decoders[0]) == pytest.approx(6.00, abs=0.01)
    assert millions(net.segmentation_decoder) == pytest.approx(0.80, abs=0.01)


def test_tiny_structure_network_overfits_one_batch():
    net = tiny_network(seed=0, dropout=0.0)
    loss_fn = StructureLoss()
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE), indexing="ij")
    disc = (xx**2 + yy**2 < 0.5).float()
    contrasts = [disc * 0.8 - 0.5, 0.2 - 0.6 * disc, torch.tanh(3 * xx) * disc, (yy > 0).float() - 0.5]
    images = torch.stack(contrasts)[None].repeat(2, 1, 1, 1)
    labels = torch.zeros(2, SIZE, SIZE, dtype=torch.long)
    labels[:, 10:20, 10:20] = 2
    labels[:, 12:16, 12:16] = 4
    labels[:, 16:18, 12:16] = 1
    available = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 1]], dtype=torch.bool)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    history = []
    for _ in range(60):
        loss, terms = loss_fn(net(images, available), images, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(terms)
    first, last = history[0], history[-1]
    assert first["total"] / last["total"] > 5
    assert first["rec"] / last["rec"] > 4  # the total alone is dominated by the early AdaIN KL
    assert first["freq"] / last["freq"] > 2.5
    assert last["seg"] < first["seg"]
    assert last["style"] < 0.1 * first["style"]
