"""Stage 2: the latent diffusion UNet, with the frozen autoencoder and (for MSG-LDM) the frozen structure network.

The UNet denoises all contrasts' latents at once (16 channels for four) with
the structure map F_s of the present contrasts concatenated, as the reference;
1-4 contrasts present per sample, so one model serves every scenario.
Epsilon prediction, L2 loss, AdamW, EMA of the weights. Without the structure
path (the ablation baseline) the condition is the present contrasts' latents
(zero for missing ones) plus one availability map per contrast.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel

from models.build import build_ddpm, build_unet
from models.config import ModelConfig
from models.data.slices import SliceBank
from models.diffusion.condition import diffusion_condition
from models.diffusion.latents import LatentCodec, random_availability
from models.training.latent_bank import LatentBank, LatentBatch, build_latent_bank
from models.training.schedule import warmup_ema


class DiffusionStage:
    def __init__(self, config: ModelConfig, autoencoder, structure, seed: int = 0):
        t = config.training.diffusion
        self.config = config
        self.codec = LatentCodec(autoencoder, config.latent_scale)
        self.structure = structure.eval() if structure is not None else None
        for frozen in (autoencoder, structure):
            if frozen is not None:
                frozen.requires_grad_(False)
        self.unet = build_unet(config)
        self.ema = AveragedModel(self.unet, multi_avg_fn=warmup_ema(t.ema_decay or 0.999))
        self.scheduler = build_ddpm(config)
        self.modules = {"unet": self.unet, "ema": self.ema}
        self.optimizers = {"unet": torch.optim.AdamW(self.unet.parameters(), lr=t.learning_rate)}
        self.generator = torch.Generator().manual_seed(seed)

    def _condition(self, latents: torch.Tensor, images: torch.Tensor | None, available: torch.Tensor) -> torch.Tensor:
        return diffusion_condition(self.config, self.structure, latents, images, available)

    def latent_bank(self, bank: SliceBank, patterns: int = 4) -> LatentBank:
        """The training slices with their frozen-network outputs, computed once (see `latent_bank`)."""
        return build_latent_bank(
            bank, self.codec, self._condition, store_conditions=self.config.diffusion.use_structure, patterns=patterns
        )

    def _loss(self, unet, batch: LatentBatch, generator: torch.Generator) -> torch.Tensor:
        z0 = batch.latents
        noise = torch.randn(z0.shape, generator=generator)
        t = torch.randint(0, self.scheduler.num_train_timesteps, (z0.shape[0],), generator=generator)
        noisy = self.scheduler.add_noise(z0, noise, t)
        return torch.mean((unet(torch.cat([noisy, batch.condition], dim=1), timesteps=t) - noise) ** 2)

    def train_step(self, batch: LatentBatch, step: int) -> dict[str, float]:
        loss = self._loss(self.unet, batch, self.generator)
        self.optimizers["unet"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["unet"].step()
        self.ema.update_parameters(self.unet)
        return {"mse": float(loss.detach())}

    @torch.no_grad()
    def validate(self, bank: SliceBank) -> dict[str, float]:
        """Noise-prediction MSE of the EMA weights on fixed validation slices, masks and timesteps."""
        generator = torch.Generator().manual_seed(4321)
        images = torch.from_numpy(bank.images[:: max(1, len(bank) // 64)].astype("float32"))
        available = random_availability(images.shape[0], images.shape[1], generator)
        latents = self.codec.encode(images)
        batch = LatentBatch(latents, self._condition(latents, images, available), available)
        return {"mse": float(self._loss(self.ema.module, batch, generator))}
