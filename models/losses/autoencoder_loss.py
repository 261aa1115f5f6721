"""Stage-0 VQ-GAN objective of MSG-LDM (taming's ``VQLPIPSWithDiscriminator`` without LPIPS).

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026)
trains its autoencoder with L1 + LPIPS + a hinge PatchGAN whose weight adapts to the ratio of gradient norms at the
decoder's last layer (Esser et al., "Taming Transformers", CVPR 2021), plus the codebook loss. LPIPS needs VGG weights
downloaded at run time, which these machines cannot do; its place is taken by a perceptual substitute that needs no
weights: ``(1 - SSIM)`` (MONAI ``SSIMLoss``, data range 2 for images in [-1, 1]) plus the L1 distance between the
finite-difference image gradients of reconstruction and input.
"""

from __future__ import annotations

import logging

import torch
from monai.losses import PatchAdversarialLoss, SSIMLoss
from monai.networks.nets import PatchDiscriminator
from torch import nn

logger = logging.getLogger(__name__)


def gradient_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the forward-difference gradients of two images (B, C, *S), summed over axes."""
    loss = prediction.new_zeros(())
    for axis in range(2, prediction.ndim):
        loss = loss + torch.mean(torch.abs(torch.diff(prediction, dim=axis) - torch.diff(target, dim=axis)))
    return loss


def adaptive_weight(
    nll_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float = 1e4
) -> torch.Tensor:
    """Taming's adaptive adversarial weight ``|grad nll| / (|grad g| + 1e-4)`` at the last layer, clamped, detached.

    Falls back to 0 when the gradients cannot be taken (grad mode off, losses not connected to the layer), as taming
    does in evaluation.

    Args:
        nll_loss: reconstruction (+ perceptual) loss.
        g_loss: generator adversarial loss.
        last_layer: the decoder's output-layer weight.
        max_weight: upper clamp (1e4).

    Returns:
        Scalar weight, detached.
    """
    if not (torch.is_grad_enabled() and nll_loss.requires_grad and g_loss.requires_grad and last_layer.requires_grad):
        return nll_loss.new_zeros(())
    nll_grads = torch.autograd.grad(nll_loss, last_layer, retain_graph=True, allow_unused=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True, allow_unused=True)[0]
    if nll_grads is None or g_grads is None:
        return nll_loss.new_zeros(())
    weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
    return torch.clamp(weight, 0.0, max_weight).detach()


class AutoencoderLoss(nn.Module):
    """Generator and discriminator losses of the VQ autoencoder, with its own PatchGAN discriminator.

    Generator: ``nll + d_weight * disc_factor * g_adv + codebook_weight * vq_loss`` where
    ``nll = mean|x - x_hat| + perceptual_weight * (ssim_weight * (1 - SSIM) + gradient_weight * gradient L1)``,
    ``g_adv = -mean(D(x_hat))`` (taming's generator term), ``d_weight`` the adaptive weight times ``disc_weight``, and
    ``disc_factor`` 0 before ``disc_start`` then 1. Discriminator: ``disc_factor * 0.5 * (hinge(D(x)) +
    hinge(-D(x_hat)))``. The generator loss back-propagates through the discriminator too; zero the discriminator's
    gradients before its own step, as usual.

    Args:
        disc_start: step from which the adversarial terms are on (0 in the reference).
        disc_weight: multiplier of the adaptive weight (1.0).
        codebook_weight: weight of the VQ loss (1.0).
        perceptual_weight: weight of the perceptual substitute (1.0, LPIPS' weight in the reference).
        ssim_weight: share of (1 - SSIM) in the perceptual substitute.
        gradient_weight: share of the gradient L1 in the perceptual substitute.
        spatial_dims: number of spatial dimensions.
        in_channels: image channels (1).
        disc_channels: discriminator base width (64).
        disc_layers: discriminator layers (3).
        data_range: intensity range of the images (2 for [-1, 1]).
    """

    def __init__(
        self,
        disc_start: int = 0,
        disc_weight: float = 1.0,
        codebook_weight: float = 1.0,
        perceptual_weight: float = 1.0,
        ssim_weight: float = 1.0,
        gradient_weight: float = 1.0,
        spatial_dims: int = 2,
        in_channels: int = 1,
        disc_channels: int = 64,
        disc_layers: int = 3,
        data_range: float = 2.0,
    ):
        super().__init__()
        self.disc_start = disc_start
        self.disc_weight = disc_weight
        self.codebook_weight = codebook_weight
        self.perceptual_weight = perceptual_weight
        self.ssim_weight = ssim_weight
        self.gradient_weight = gradient_weight
        self.discriminator = PatchDiscriminator(
            spatial_dims=spatial_dims, channels=disc_channels, in_channels=in_channels, num_layers_d=disc_layers
        )
        self.ssim = SSIMLoss(spatial_dims=spatial_dims, data_range=data_range)
        self.hinge = PatchAdversarialLoss(criterion="hinge")

    def disc_factor(self, step: int) -> float:
        """1.0 from ``disc_start`` on, 0.0 before (taming's ``adopt_weight``)."""
        return 1.0 if step >= self.disc_start else 0.0

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x)[-1]

    def generator_loss(
        self, x: torch.Tensor, recon: torch.Tensor, vq_loss: torch.Tensor, last_layer: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of the autoencoder (generator) step.

        Args:
            x: input images (B, C, *S) in [-1, 1].
            recon: reconstructions (B, C, *S).
            vq_loss: scalar VQ loss from the quantizer.
            last_layer: the decoder's output-layer weight (``VQAutoencoder.last_layer``).
            step: global training step.

        Returns:
            The scalar loss and its terms (floats): "l1", "ssim", "gradient", "nll", "g_adv", "d_weight",
            "disc_factor", "vq", "total".
        """
        l1 = torch.mean(torch.abs(x - recon))
        ssim = self.ssim(recon, x)
        grad = gradient_l1(recon, x)
        nll = l1 + self.perceptual_weight * (self.ssim_weight * ssim + self.gradient_weight * grad)
        factor = self.disc_factor(step)
        total = nll + self.codebook_weight * vq_loss
        g_adv = torch.zeros((), device=x.device)
        d_weight = torch.zeros((), device=x.device)
        if factor > 0:
            g_adv = -torch.mean(self._logits(recon))
            d_weight = adaptive_weight(nll, g_adv, last_layer) * self.disc_weight
            total = total + d_weight * factor * g_adv
        terms = {"l1": l1, "ssim": ssim, "gradient": grad, "nll": nll, "g_adv": g_adv, "d_weight": d_weight}
        logs = {name: float(value.detach()) for name, value in terms.items()}
        logs.update(disc_factor=factor, vq=float(vq_loss.detach()), total=float(total.detach()))
        return total, logs

    def discriminator_loss(
        self, x: torch.Tensor, recon: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Hinge loss of the discriminator step (inputs are detached here).

        Args:
            x: real images (B, C, *S).
            recon: reconstructions (B, C, *S).
            step: global training step.

        Returns:
            The scalar loss (before ``disc_start``: an exact zero with zero gradients, the discriminator not run)
            and its terms: "d_real", "d_fake", "logits_real", "logits_fake", "disc_factor", "total".
        """
        factor = self.disc_factor(step)
        if factor == 0:
            # An exact zero still connected to the discriminator, so backward() works and leaves zero gradients
            # (a trainer can also skip the discriminator step while disc_factor is 0).
            zero = 0.0 * sum(p.sum() for p in self.discriminator.parameters())
            names = ("d_real", "d_fake", "logits_real", "logits_fake", "disc_factor", "total")
            return zero, dict.fromkeys(names, 0.0)
        logits_real = self._logits(x.detach())
        logits_fake = self._logits(recon.detach())
        d_real = self.hinge(logits_real, target_is_real=True, for_discriminator=True)
        d_fake = self.hinge(logits_fake, target_is_real=False, for_discriminator=True)
        total = factor * 0.5 * (d_real + d_fake)
        logs = {
            "d_real": float(d_real.detach()),
            "d_fake": float(d_fake.detach()),
            "logits_real": float(logits_real.detach().mean()),
            "logits_fake": float(logits_fake.detach().mean()),
            "disc_factor": factor,
            "total": float(total.detach()),
        }
        return total, logs
