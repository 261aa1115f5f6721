"""One sampler for every scheduler: DDPM (the 1000-step reference) and DDIM (few steps).

At inference the present contrasts are known. With `observed` given and
`replace_observed`, their latent channels are put back at every step, noised
to the current timestep with one fixed noise draw (replacement, as in
inpainting), and set exactly at the end; the reference never does this.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler
from torch import nn

ProgressCallback = Callable[[int, int], None]


def _previous_timestep(scheduler, index: int) -> int | None:
    timesteps = scheduler.timesteps
    return int(timesteps[index + 1]) if index + 1 < len(timesteps) else None


@torch.no_grad()
def sample_latents(
    unet: nn.Module,
    scheduler: DDPMScheduler | DDIMScheduler,
    condition: torch.Tensor,
    noise: torch.Tensor,
    *,
    observed: torch.Tensor | None = None,
    observed_mask: torch.Tensor | None = None,
    replace_observed: bool = True,
    shared_noise: bool = False,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Denoise `noise` (B, L, h, w) to clean latents, conditioned by concatenating `condition` (B, Cc, h, w).

    The scheduler must already have its timesteps set (`set_timesteps`).
    `observed` (B, L, h, w) holds the present contrasts' latents and
    `observed_mask` (B, L, 1, 1) says which channels they are. With `shared_noise` the replacement noise
    is one draw for the whole batch too (the slices then share all their noise).
    """
    x = noise
    replace = replace_observed and observed is not None and observed_mask is not None
    if replace:
        shape = (1, *noise.shape[1:]) if shared_noise else noise.shape
        replacement_noise = torch.randn(shape, generator=generator, dtype=noise.dtype).expand(noise.shape)
        replacement_noise = replacement_noise.to(noise.device)
    total = len(scheduler.timesteps)
    step_options = {"eta": eta} if isinstance(scheduler, DDIMScheduler) else {}  # DDPM's step takes no eta
    for index, t in enumerate(scheduler.timesteps):
        timestep = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        eps = unet(torch.cat([x, condition], dim=1), timesteps=timestep)
        x, _ = scheduler.step(eps, int(t), x, generator=generator, **step_options)
        if replace:
            previous = _previous_timestep(scheduler, index)
            if previous is None:
                known = observed
            else:
                steps = torch.full((x.shape[0],), previous, device=x.device, dtype=torch.long)
                known = scheduler.add_noise(observed, replacement_noise, steps)
            x = torch.where(observed_mask, known, x)
        if progress is not None:
            progress(index + 1, total)
    return x
