"""Stage 0: the VQ autoencoder shared by all contrasts, trained on single-contrast slices.

Loss as the reference VQGAN (L1, hinge PatchGAN with taming's adaptive weight,
codebook loss) with LPIPS replaced by SSIM and gradient terms: LPIPS needs
network weights that cannot be downloaded here.
"""

from __future__ import annotations

import torch

from models.build import build_autoencoder
from models.config import ModelConfig
from models.data.slices import SliceBank, SliceBatch
from models.losses.autoencoder_loss import AutoencoderLoss


def single_contrast(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, M, H, W) -> (B, 1, H, W): one random contrast per slice."""
    pick = torch.randint(0, images.shape[1], (images.shape[0],), generator=generator)
    return images[torch.arange(images.shape[0]), pick][:, None]


class AutoencoderStage:
    def __init__(self, config: ModelConfig, seed: int = 0):
        t = config.training.autoencoder
        self.autoencoder = build_autoencoder(config)
        self.loss = AutoencoderLoss(disc_start=config.training.disc_start)
        self.modules = {"autoencoder": self.autoencoder, "loss": self.loss}
        self.optimizers = {
            "autoencoder": torch.optim.Adam(self.autoencoder.parameters(), lr=t.learning_rate, betas=(0.5, 0.9)),
            "discriminator": torch.optim.Adam(
                self.loss.discriminator.parameters(), lr=t.learning_rate, betas=(0.5, 0.9)
            ),
        }
        self.generator = torch.Generator().manual_seed(seed)

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        x = single_contrast(batch.images, self.generator)
        recon, vq_loss = self.autoencoder(x)
        loss, logs = self.loss.generator_loss(x, recon, vq_loss, self.autoencoder.last_layer, step)
        self.optimizers["autoencoder"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["autoencoder"].step()
        d_loss, d_logs = self.loss.discriminator_loss(x, recon.detach(), step)
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()
        return {"total": logs["total"], "l1": logs["l1"], "ssim": logs["ssim"], "vq": logs["vq"], "d": d_logs["total"]}

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """Reconstruction L1 and PSNR over a fixed set of validation slices, every contrast."""
        images = torch.from_numpy(bank.images[:: max(1, len(bank) // 64)].astype("float32"))
        x = images.reshape(-1, 1, *images.shape[-2:])
        recon, _ = self.autoencoder(x)
        mse = torch.mean((recon - x) ** 2)
        return {"l1": float(torch.mean(torch.abs(recon - x))), "psnr": float(10 * torch.log10(4.0 / mse))}


@torch.no_grad()
def latent_scale(autoencoder, bank: SliceBank, samples: int = 256) -> float:
    """1 / std of the quantized latents of training slices (LDM's scale factor)."""
    images = torch.from_numpy(bank.images[:: max(1, len(bank) // samples)].astype("float32"))
    z = autoencoder.eval().encode(images.reshape(-1, 1, *images.shape[-2:]))
    return float(1.0 / z.flatten().std())
