"""The structure-guided mean's training, and its unguided twin's: both fine-tune the finished fair regression.

`guided`: the regression U-Net plus the finished mean network's structure half (encoders with HFIB, MMSF, MSSE,
segmentation decoder), joined by zero-initialised 1x1 convolutions (models/networks/guided_mean.py), trained on
the regression's loss plus the reference's segmentation term (weight 0.1) that keeps the pyramid structural.
`unguided`: the same U-Net, the same steps, schedule, masks, flips and loss, without the structure. The pair
measures what MSG-LDM's structure adds to a mean that already has the regression's full-resolution path, with the
budget matched; the residual diffusion is then trained over each (the structure path and its ablation).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from models.build import build_guided_mean
from models.config import ModelConfig
from models.data.slices import SliceBank, SliceBatch
from models.export import stage_weights
from models.losses.segmentation_loss import BCEDiceLoss, brats_label_channels
from models.networks.regression_unet import build_regression_unet, regression_inputs
from models.training.mean_stage import flip_batch, hidden_alone_scores, mean_availability, missing_l1
from models.training.schedule import warmup_ema

SEGMENTATION_WEIGHT = 0.1
STRUCTURE_PREFIXES = ("structure_encoders.", "fusions.", "msse.", "segmentation_decoder.")


class GuidedMeanStage:
    """Fine-tunes the regression with (`with_structure`) or without the structure pyramid.

    Args:
        regression_weights: the finished regression's `weights.pt` (its EMA starts the U-Net).
        mean_weights: the finished mean network's `weights.pt` (its EMA's structure half); unused without structure.
    """

    def __init__(
        self,
        config: ModelConfig,
        regression_weights: Path,
        mean_weights: Path | None,
        with_structure: bool,
        seed: int = 0,
    ):
        t = config.training.guided if with_structure else config.training.unguided
        self.config = config
        self.with_structure = with_structure
        unet_state = stage_weights(regression_weights, "regression")
        if with_structure:
            self.network: nn.Module = build_guided_mean(config)
            self.network.network.load_state_dict(unet_state)
            mean_state = stage_weights(mean_weights, "structure")
            half = {k: v for k, v in mean_state.items() if k.startswith(STRUCTURE_PREFIXES)}
            missing, unexpected = self.network.structure.load_state_dict(half, strict=False)
            if missing or unexpected:
                raise ValueError(f"{mean_weights}: structure half does not match ({missing[:3]}, {unexpected[:3]})")
        else:
            self.network = build_regression_unet(len(config.contrasts))
            self.network.load_state_dict(unet_state)
        self.ema = AveragedModel(self.network, multi_avg_fn=warmup_ema(t.ema_decay or 0.999))
        self.modules = {"network": self.network, "ema": self.ema}
        self.optimizers = {
            "network": torch.optim.AdamW(self.network.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
        }
        self.generator = torch.Generator().manual_seed(seed)
        self.contrasts = len(config.contrasts)
        self.bce_dice = BCEDiceLoss()

    def _predict(self, network: nn.Module, images: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        if self.with_structure:
            return network.predict(images, available).images
        return network(regression_inputs(images, available)).clamp(-1.0, 1.0)

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        available = mean_availability(batch.images.shape[0], self.contrasts, self.generator)
        batch = flip_batch(batch, torch.rand(batch.images.shape[0], generator=self.generator) < 0.5)
        brain_weight = self.config.autoencoder.brain_weight
        terms = {}
        if self.with_structure:
            raw, _, scales = self.network.raw(batch.images, available)
            l1 = missing_l1(raw, batch, available, brain_weight)
            segmentation = self.bce_dice(
                self.network.structure.segmentation_decoder(scales), brats_label_channels(batch.labels)
            )
            loss = l1 + SEGMENTATION_WEIGHT * segmentation
            terms["seg"] = float(segmentation.detach())
        else:
            l1 = missing_l1(self.network(regression_inputs(batch.images, available)), batch, available, brain_weight)
            loss = l1
        self.optimizers["network"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizers["network"].step()
        self.ema.update_parameters(self.network)
        return {"l1": float(l1.detach()), **terms}

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """The EMA network with each contrast hidden alone, as the mean's and the regression's validations."""
        network = self.ema.module
        return hidden_alone_scores(
            bank, self.config.contrasts, lambda images, available, j: self._predict(network, images, available)[:, j]
        )
