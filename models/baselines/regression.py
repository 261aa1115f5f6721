"""Baseline 2: a U-Net that regresses the missing contrasts from the present ones, with the same inputs as MSG-LDM.

Input: the four contrasts (missing ones zeroed) and one availability map
per contrast, on the model grid's axial slices; output: all four contrasts,
the L1 loss taken on the missing ones inside the head (weighted towards the
brain). One network serves every scenario, as MSG-LDM does, trained on the
mean network's recipe (masks, flips, schedule, EMA). Deterministic and fast,
it shows what the diffusion and the structure guidance add over plain
supervised regression.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.networks.nets import BasicUNet
from torch.optim.swa_utils import AveragedModel

from models.config import ModelConfig
from models.data.preprocessing import ModelGridVolume
from models.data.slices import SliceBank, SliceBatch
from models.export import stage_weights
from models.networks.regression_unet import FEATURES, build_regression_unet, regression_inputs
from models.training.mean_stage import flip_batch, hidden_alone_scores, mean_availability, missing_l1
from models.training.schedule import warmup_ema

__all__ = ["FEATURES", "RegressionBaseline", "RegressionStage", "build_regression_unet", "regression_inputs"]


class RegressionStage:
    """Training of the regression baseline, on the mean network's recipe so the comparison is fair.

    Same loop, data, masks (half single-missing), left-right flips, brain-weighted L1 on the missing contrasts,
    learning-rate schedule and EMA as `models.training.mean_stage`; its validation scores each contrast hidden
    alone exactly as the mean's does. Only the network differs.
    """

    def __init__(self, config: ModelConfig, seed: int = 0):
        t = config.training.regression
        self.config = config
        self.contrasts = len(config.contrasts)
        self.network = build_regression_unet(self.contrasts)
        self.ema = AveragedModel(self.network, multi_avg_fn=warmup_ema(t.ema_decay or 0.999))
        self.modules = {"regression": self.network, "ema": self.ema}
        self.optimizers = {
            "regression": torch.optim.AdamW(self.network.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
        }
        self.generator = torch.Generator().manual_seed(seed)

    def _loss(self, network, batch: SliceBatch, available: torch.Tensor) -> torch.Tensor:
        prediction = network(regression_inputs(batch.images, available))
        return missing_l1(prediction, batch, available, self.config.autoencoder.brain_weight)

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        available = mean_availability(batch.images.shape[0], self.contrasts, self.generator)
        batch = flip_batch(batch, torch.rand(batch.images.shape[0], generator=self.generator) < 0.5)
        loss = self._loss(self.network, batch, available)
        self.optimizers["regression"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizers["regression"].step()
        self.ema.update_parameters(self.network)
        return {"l1": float(loss.detach())}

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """The EMA network with each contrast hidden alone on fixed validation slices (as the mean's validation)."""
        network = self.ema.module
        return hidden_alone_scores(
            bank,
            self.config.contrasts,
            lambda images, available, j: network(regression_inputs(images, available))[:, j],
        )


class RegressionBaseline:
    """The trained regression U-Net as an evaluation method (`predict` like the nearest-contrast baseline)."""

    name = "regression"

    def __init__(self, network: BasicUNet, contrasts: tuple[str, ...], batch_size: int = 32):
        self.network = network.eval()
        self.contrasts = contrasts
        self.batch_size = batch_size

    @classmethod
    def load(cls, weights_path, config: ModelConfig) -> RegressionBaseline:
        network = build_regression_unet(len(config.contrasts))
        network.load_state_dict(stage_weights(weights_path, "regression"))
        return cls(network, config.contrasts)

    @torch.no_grad()
    def predict(self, grid: ModelGridVolume, missing: list[str]) -> dict[str, np.ndarray]:
        slices, images, available = grid.model_inputs(self.contrasts)
        size = grid.images.shape[1]
        outputs = np.full((len(self.contrasts), size, size, grid.images.shape[3]), -1.0, dtype=np.float32)
        for start in range(0, len(slices), self.batch_size):
            part = slice(start, start + self.batch_size)
            predicted = self.network(regression_inputs(images[part], available[part])).clamp(-1.0, 1.0)
            outputs[..., slices[part]] = np.moveaxis(predicted.numpy(), 0, -1)
        return {
            c: np.where(grid.foreground, outputs[self.contrasts.index(c)], -1.0).astype(np.float32) for c in missing
        }
