"""Baseline 2: a U-Net that regresses the missing contrasts from the present ones, with the same inputs as MSG-LDM.

Input: the four contrasts (missing ones zeroed) and one availability map
per contrast, on the model grid's axial slices; output: all four contrasts,
the L1 loss taken on the missing ones inside the head. One network serves
every scenario, as MSG-LDM does, trained with the same random availability
(1 to 3 contrasts present). Deterministic and fast, it shows what the
diffusion and the structure guidance add over plain supervised regression.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.networks.nets import BasicUNet

from models.config import ModelConfig
from models.data.preprocessing import ModelGridVolume
from models.data.slices import SliceBank, SliceBatch
from models.diffusion.latents import random_availability

FEATURES = (16, 32, 64, 128, 128, 16)
"""BasicUNet widths (encoder levels, then the last decoder level): about 2 M parameters."""


def build_regression_unet(contrasts: int) -> BasicUNet:
    return BasicUNet(spatial_dims=2, in_channels=2 * contrasts, out_channels=contrasts, features=FEATURES)


def regression_inputs(images: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    """(B, M, H, W) images and (B, M) availability -> (B, 2M, H, W): masked images, then availability maps."""
    maps = available.float()[:, :, None, None].expand_as(images)
    return torch.cat([torch.where(available[:, :, None, None], images, 0.0), maps], dim=1)


class RegressionStage:
    """Training of the regression baseline (same loop, checkpoints and logs as the MSG-LDM stages)."""

    def __init__(self, config: ModelConfig, seed: int = 0):
        t = config.training.regression
        self.contrasts = len(config.contrasts)
        self.network = build_regression_unet(self.contrasts)
        self.modules = {"regression": self.network}
        self.optimizers = {"regression": torch.optim.Adam(self.network.parameters(), lr=t.learning_rate)}
        self.generator = torch.Generator().manual_seed(seed)

    def _loss(self, images: torch.Tensor, available: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
        prediction = self.network(regression_inputs(images, available))
        weight = (~available).float()[:, :, None, None] * head[:, None]
        return torch.sum(torch.abs(prediction - images) * weight) / weight.sum().clamp_min(1.0)

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        images = batch.images
        available = random_availability(images.shape[0], self.contrasts, self.generator)
        available[available.all(dim=1), 0] = False  # at least one missing, or there is nothing to learn
        head = (images > -1.0 + 1e-3).any(dim=1).float()
        loss = self._loss(images, available, head)
        self.optimizers["regression"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["regression"].step()
        return {"l1": float(loss.detach())}

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        generator = torch.Generator().manual_seed(99)
        images = torch.from_numpy(bank.images[:: max(1, len(bank) // 64)].astype("float32"))
        available = random_availability(images.shape[0], self.contrasts, generator)
        available[available.all(dim=1), 0] = False
        head = (images > -1.0 + 1e-3).any(dim=1).float()
        return {"l1": float(self._loss(images, available, head))}


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
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        network.load_state_dict({k: v.float() for k, v in state["regression"].items()})
        return cls(network, config.contrasts)

    @torch.no_grad()
    def predict(self, grid: ModelGridVolume, missing: list[str]) -> dict[str, np.ndarray]:
        slices = grid.slice_indices(1e-6)
        size = grid.images.shape[1]
        images = torch.zeros(len(slices), len(self.contrasts), size, size)
        for j, contrast in enumerate(self.contrasts):
            if contrast in grid.contrasts:
                images[:, j] = torch.from_numpy(np.moveaxis(grid.image(contrast)[..., slices], -1, 0))
        available = torch.tensor([c in grid.contrasts for c in self.contrasts]).expand(len(slices), -1)
        outputs = np.full((len(self.contrasts), size, size, grid.images.shape[3]), -1.0, dtype=np.float32)
        for start in range(0, len(slices), self.batch_size):
            part = slice(start, start + self.batch_size)
            predicted = self.network(regression_inputs(images[part], available[part])).clamp(-1.0, 1.0)
            outputs[..., slices[part]] = np.moveaxis(predicted.numpy(), 0, -1)
        return {
            c: np.where(grid.foreground, outputs[self.contrasts.index(c)], -1.0).astype(np.float32) for c in missing
        }
