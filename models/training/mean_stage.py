"""Stage 1, second generation: the structure network trained as the deterministic mean of the missing contrasts.

Each sample hides contrasts (half of the masks hide exactly one, the case the node meets most; the rest two or
three), and the network predicts them from the present ones only (`StructureMeanNetwork.predict`, the path
inference takes). Loss, per the reference's stage-1 terms where they still apply:
    L1 on the missing contrasts, weighted towards the brain          (1.0)
  + the same on the present contrasts' rebuilds                      (0.2, keeps every decoder general)
  + frequency SSIM on the missing contrasts (reference L_sa)         (0.5)
  + BCE + Dice segmentation from the fused pyramid (reference L_seg) (1.0)
  + squared error of the predicted style codes of the missing contrasts to their own codes (1.0)
  + style contrastive on every contrast's own code (reference L_sc)  (0.1)
EMA of the weights is what the later stages and the export use.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from models.build import build_mean_network
from models.config import ModelConfig
from models.data.slices import SliceBank, SliceBatch
from models.losses.frequency_ssim import FrequencySSIMLoss
from models.losses.segmentation_loss import BCEDiceLoss, brats_label_channels
from models.losses.style_contrastive import StyleContrastiveLoss
from models.metrics import image_metrics
from models.training.schedule import warmup_ema

WEIGHTS = {"present": 0.2, "freq": 0.5, "seg": 1.0, "style": 1.0, "contrastive": 0.1}


def mean_availability(batch: int, contrasts: int, generator: torch.Generator) -> torch.Tensor:
    """(B, M) masks: half hide exactly one contrast, the rest 2 to M-1 (at least one stays present)."""
    single = torch.rand(batch, generator=generator) < 0.5
    many = torch.randint(2, max(3, contrasts), (batch,), generator=generator).clamp_max(contrasts - 1)
    hidden = torch.where(single, torch.ones_like(many), many)
    ranks = torch.rand(batch, contrasts, generator=generator).argsort(dim=1).argsort(dim=1)
    return ranks >= hidden[:, None]


def head_weights(images: torch.Tensor, brain_mask: torch.Tensor, brain_weight: float) -> torch.Tensor:
    """(B, 1, H, W): 1 in the head, 1 + `brain_weight` in the brain, 0 in the background."""
    head = (images > -1.0 + 1e-3).any(dim=1, keepdim=True).float()
    return head * (1.0 + brain_weight * brain_mask[:, None].float())


def missing_l1(prediction: torch.Tensor, batch: SliceBatch, available: torch.Tensor, brain_weight: float):
    """The regression's loss: L1 on the missing contrasts inside the head, weighted towards the brain."""
    weights = head_weights(batch.images, batch.brain_mask, brain_weight)
    weights = (~available).float()[:, :, None, None] * weights
    return torch.sum(torch.abs(prediction - batch.images) * weights) / weights.sum().clamp_min(1.0)


class MeanStage:
    def __init__(self, config: ModelConfig, seed: int = 0):
        t = config.training.mean
        self.config = config
        self.network = build_mean_network(config)
        self.ema = AveragedModel(self.network, multi_avg_fn=warmup_ema(t.ema_decay or 0.999))
        self.modules = {"structure": self.network, "ema": self.ema}
        self.optimizers = {
            "structure": torch.optim.AdamW(self.network.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
        }
        self.generator = torch.Generator().manual_seed(seed)
        self.contrasts = len(config.contrasts)
        self.freq_ssim = FrequencySSIMLoss()
        self.bce_dice = BCEDiceLoss()
        self.contrastive = StyleContrastiveLoss()

    def _loss(self, network, batch: SliceBatch, available: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        images = batch.images
        output = network.predict(images, available)
        weights = head_weights(images, batch.brain_mask, self.config.autoencoder.brain_weight)
        error = torch.abs(output.images - images) * weights
        missing = (~available).float()[:, :, None, None]
        denominator = weights.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        per_contrast = (error / denominator).sum(dim=(2, 3), keepdim=True)  # (B, M, 1, 1)
        rec_missing = (per_contrast * missing).sum() / missing.sum().clamp_min(1.0)
        rec_present = (per_contrast * (1 - missing)).sum() / (1 - missing).sum().clamp_min(1.0)
        hidden_only = torch.where(available[:, :, None, None], images, output.images)
        freq = self.freq_ssim(hidden_only, images) / max(1.0, float(missing.sum()) / images.shape[0])
        seg = self.bce_dice(output.segmentation_logits, brats_label_channels(batch.labels))
        # Every contrast's own code, from its ground truth (training only): the predictor's target, and the
        # reference's contrastive term on the style encoders.
        true_codes = network.own_styles(images, torch.ones_like(available))
        style = ((output.predicted_styles - true_codes.detach()) ** 2).mean(dim=2)
        style = (style * missing[:, :, 0, 0]).sum() / missing.sum().clamp_min(1.0)
        contrastive = self.contrastive(true_codes)
        total = (
            rec_missing
            + WEIGHTS["present"] * rec_present
            + WEIGHTS["freq"] * freq
            + WEIGHTS["seg"] * seg
            + WEIGHTS["style"] * style
            + WEIGHTS["contrastive"] * contrastive
        )
        terms = {
            "total": total,
            "missing": rec_missing,
            "present": rec_present,
            "freq": freq,
            "seg": seg,
            "style": style,
            "contrastive": contrastive,
        }
        return total, {k: float(v.detach()) for k, v in terms.items()}

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        available = mean_availability(batch.images.shape[0], self.contrasts, self.generator)
        flip = torch.rand(batch.images.shape[0], generator=self.generator) < 0.5
        batch = flip_batch(batch, flip)
        loss, terms = self._loss(self.network, batch, available)
        self.optimizers["structure"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizers["structure"].step()
        self.ema.update_parameters(self.network)
        return terms

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """The EMA mean of each contrast hidden alone, on fixed validation slices, in the evaluation's metric."""
        network = self.ema.module
        return hidden_alone_scores(
            bank, self.config.contrasts, lambda images, available, j: network.predict(images, available, [j])[:, 0]
        )


def hidden_alone_scores(bank: SliceBank, contrasts: tuple[str, ...], predict) -> dict[str, float]:
    """PSNR per contrast (and mean PSNR, SSIM) with each contrast hidden alone on every 1/24th validation slice.

    `predict(images, available, j)` -> (N, H, W) prediction of contrast j. Slices are stacked as one volume and
    scored inside the brain as `models.evaluate` scores (models/metrics.py).
    """
    index = slice(None, None, max(1, len(bank) // 24))
    images = torch.from_numpy(bank.images[index].astype("float32"))
    brain = np.moveaxis(bank.brain_mask[index].astype(bool), 0, -1)
    scores = {}
    for j, contrast in enumerate(contrasts):
        available = torch.ones(images.shape[0], len(contrasts), dtype=torch.bool)
        available[:, j] = False
        volume = np.moveaxis(predict(images, available, j).clamp(-1, 1).numpy(), 0, -1)
        truth = np.moveaxis(images[:, j].numpy(), 0, -1)
        scores[contrast] = image_metrics(volume, truth, brain)
    row = {f"{c}_psnr": s["psnr"] for c, s in scores.items()}
    row["psnr"] = float(np.mean([s["psnr"] for s in scores.values()]))
    row["ssim"] = float(np.mean([s["ssim"] for s in scores.values()]))
    return row


def flip_batch(batch: SliceBatch, flip: torch.Tensor) -> SliceBatch:
    """Left-right flips of the chosen samples (images, labels and brain mask together)."""
    f3 = flip[:, None, None]
    return SliceBatch(
        torch.where(flip[:, None, None, None], batch.images.flip(-2), batch.images),
        torch.where(f3, batch.labels.flip(-2), batch.labels),
        torch.where(f3, batch.brain_mask.flip(-2), batch.brain_mask),
    )
