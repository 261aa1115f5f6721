"""Stage 0, second generation: the f = 4 `AutoencoderKL`, trained on single-contrast slices.

Loss: L1 weighted towards the brain (the evaluation is inside the brain; the scalp still counts, less), an
image-gradient L1 with the same weights (edges: ventricles, cortex, lesion borders), and MONAI's small KL term.
No adversarial or perceptual term (two cores; no weights can be downloaded for LPIPS). EMA of the weights is
what the later stages and the export use; bf16 autocast where the recipe asks for it and the CPU has native bf16.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from models.build import build_autoencoder
from models.config import ModelConfig
from models.data.slices import SliceBank, SliceBatch
from models.metrics import image_metrics
from models.networks.kl_autoencoder import kl_divergence
from models.runtime import bf16_is_fast
from models.training.autoencoder_stage import single_contrast
from models.training.schedule import warmup_ema


def brain_weights(brain_mask: torch.Tensor, brain_weight: float) -> torch.Tensor:
    """(B, H, W) brain mask -> (B, 1, H, W) weights: 1 + `brain_weight` inside the brain."""
    return 1.0 + brain_weight * brain_mask[:, None].float()


def weighted_l1(prediction: torch.Tensor, truth: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return torch.sum(torch.abs(prediction - truth) * weights) / weights.sum().clamp_min(1.0)


def gradient_l1(prediction: torch.Tensor, truth: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted L1 between the images' finite differences along both axes."""
    loss = 0.0
    for dim in (-1, -2):
        dp, dt = torch.diff(prediction, dim=dim), torch.diff(truth, dim=dim)
        w = weights.narrow(dim, 0, weights.shape[dim] - 1)
        loss = loss + weighted_l1(dp, dt, w)
    return loss / 2


def brain_crops(
    x: torch.Tensor, weights: torch.Tensor, brain: torch.Tensor, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crops of `size`, each centred on a random brain pixel of its slice (anywhere when it has none)."""
    height, width = x.shape[-2:]
    crops_x, crops_w = [], []
    for i in range(x.shape[0]):
        points = torch.nonzero(brain[i] > 0)
        if len(points):
            cy, cx = points[int(torch.randint(0, len(points), (1,), generator=generator))].tolist()
        else:
            cy, cx = (int(v) for v in torch.randint(0, min(height, width), (2,), generator=generator))
        top = min(max(cy - size // 2, 0), height - size)
        left = min(max(cx - size // 2, 0), width - size)
        crops_x.append(x[i, :, top : top + size, left : left + size])
        crops_w.append(weights[i, :, top : top + size, left : left + size])
    return torch.stack(crops_x), torch.stack(crops_w)


class KLAutoencoderStage:
    def __init__(self, config: ModelConfig, seed: int = 0):
        t = config.training.autoencoder
        self.config = config
        self.training = t
        self.autoencoder = build_autoencoder(config)
        self.ema = AveragedModel(self.autoencoder, multi_avg_fn=warmup_ema(t.ema_decay or 0.999))
        self.modules = {"autoencoder": self.autoencoder, "ema": self.ema}
        self.optimizers = {
            "autoencoder": torch.optim.AdamW(
                self.autoencoder.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay
            )
        }
        self.generator = torch.Generator().manual_seed(seed)
        self.bf16 = t.bf16 and bf16_is_fast()

    def _pick(self, batch: SliceBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """One random contrast per slice, randomly flipped left-right (the head is nearly symmetric), cropped."""
        x = single_contrast(batch.images, self.generator)
        weights = brain_weights(batch.brain_mask, self.config.autoencoder.brain_weight)
        flip = torch.rand(x.shape[0], generator=self.generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-2), x)
        weights = torch.where(flip[:, None, None, None], weights.flip(-2), weights)
        crop = self.config.autoencoder.train_crop
        if crop:
            brain = torch.where(flip[:, None, None], batch.brain_mask.flip(-2), batch.brain_mask)
            x, weights = brain_crops(x, weights, brain, crop, self.generator)
        return x, weights

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        x, weights = self._pick(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            recon, mean, sigma = self.autoencoder(x)
        recon, mean, sigma = recon.float(), mean.float(), sigma.float()
        l1 = weighted_l1(recon, x, weights)
        gradient = gradient_l1(recon, x, weights)
        kl = kl_divergence(mean, sigma)
        loss = l1 + gradient + self.config.autoencoder.kl_weight * kl
        self.optimizers["autoencoder"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.autoencoder.parameters(), 1.0)
        self.optimizers["autoencoder"].step()
        self.ema.update_parameters(self.autoencoder)
        return {
            "total": float(loss.detach()),
            "l1": float(l1.detach()),
            "gradient": float(gradient.detach()),
            "kl": float(kl.detach()),
        }

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """Round trip of the EMA weights on fixed validation slices, every contrast, in the evaluation's metric.

        PSNR and SSIM inside the brain after the evaluation's percentile scaling (`models.metrics`), the slices
        of each contrast stacked as one volume.
        """
        index = slice(None, None, max(1, len(bank) // 24))
        images = torch.from_numpy(bank.images[index].astype("float32"))
        brain = bank.brain_mask[index].astype(bool)
        scores = []
        for j in range(images.shape[1]):
            x = images[:, j : j + 1]
            recon = self.ema.module.decode(self.ema.module.encode(x)).clamp(-1, 1)
            volume = np.moveaxis(recon[:, 0].numpy(), 0, -1)
            truth = np.moveaxis(x[:, 0].numpy(), 0, -1)
            scores.append(image_metrics(volume, truth, np.moveaxis(brain, 0, -1)))
        return {
            "brain_psnr": float(np.mean([s["psnr"] for s in scores])),
            "brain_ssim": float(np.mean([s["ssim"] for s in scores])),
        }
