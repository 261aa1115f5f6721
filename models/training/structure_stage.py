"""Stage 1: the structure network, trained with random missing contrasts.

As the reference, 0 to M-1 contrasts are masked per sample (k chosen
uniformly), so at least one is present; every contrast is reconstructed from
the fused structure and its own style code. Adam (0.5, 0.9); the reference's
explicit 1e-4 * sum(theta^2) term is Adam's L2 weight decay of 2e-4.
"""

from __future__ import annotations

import torch

from models.build import build_structure_network
from models.config import ModelConfig
from models.data.slices import SliceBank, SliceBatch
from models.losses.structure_loss import StructureLoss


def stage1_availability(batch: int, contrasts: int, generator: torch.Generator) -> torch.Tensor:
    """Mask k in [0, M-1] contrasts uniformly, then a uniform subset: at least one contrast stays."""
    missing = torch.randint(0, contrasts, (batch,), generator=generator)
    ranks = torch.rand(batch, contrasts, generator=generator).argsort(dim=1).argsort(dim=1)
    return ranks >= missing[:, None]


class StructureStage:
    def __init__(self, config: ModelConfig, seed: int = 0):
        t = config.training.structure
        self.network = build_structure_network(config)
        self.loss = StructureLoss()
        self.modules = {"structure": self.network}
        self.optimizers = {
            "structure": torch.optim.Adam(
                self.network.parameters(), lr=t.learning_rate, betas=(0.5, 0.9), weight_decay=2e-4
            )
        }
        self.generator = torch.Generator().manual_seed(seed)
        self.contrasts = len(config.contrasts)

    def train_step(self, batch: SliceBatch, step: int) -> dict[str, float]:
        available = stage1_availability(batch.images.shape[0], self.contrasts, self.generator)
        output = self.network(batch.images, available)
        loss, logs = self.loss(output, batch.images, batch.labels)
        self.optimizers["structure"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["structure"].step()
        return logs

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """Stage-1 loss terms on fixed validation slices with a fixed mask sequence."""
        generator = torch.Generator().manual_seed(1234)
        index = slice(None, None, max(1, len(bank) // 48))
        images = torch.from_numpy(bank.images[index].astype("float32"))
        labels = torch.from_numpy(bank.labels[index].astype("int64"))
        available = stage1_availability(images.shape[0], self.contrasts, generator)
        _, logs = self.loss(self.network(images, available), images, labels)
        return logs
