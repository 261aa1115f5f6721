"""The boundary the rest of the product uses: load a model folder once, synthesize missing contrasts.

    synthesizer = Synthesizer.load(model_dir)            # GPU if present, else CPU
    missing = synthesizer.synthesize(volumes, affine, ["flair"])  # dict contrast -> volume on the input grid

`volumes` are co-registered (one voxel grid, `affine` voxel -> mm), in any
intensity unit; results are in [0, 1] (the model's normalised range) on the
same grid. `synthesize_grid` works on the model grid directly. Nothing here
knows DICOM.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from models.build import (
    build_autoencoder,
    build_ddim,
    build_ddpm,
    build_structure_network,
    build_unet,
    load_residual_mean,
)
from models.config import ModelConfig, SamplerConfig, load_config
from models.data.preprocessing import ModelGridVolume, to_model_grid
from models.data.resampling import resample_to_grid
from models.diffusion.condition import diffusion_condition
from models.diffusion.latents import LatentCodec, latent_channel_mask
from models.diffusion.residual import make_residual_condition, refine_residual
from models.diffusion.sampler import sample_latents
from models.export import CHECKSUM, CONFIG, WEIGHTS, sha256
from models.runtime import choose_device
from product.errors import ProductError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class SynthesisError(ProductError, ValueError):
    """A request the model cannot serve: names the contrast, grid or file at fault."""


class Synthesizer:
    """A loaded MSG-LDM (autoencoder, structure network, diffusion UNet) ready to synthesize."""

    _cache: dict[tuple[str, str], Synthesizer] = {}
    _lock = threading.Lock()

    def __init__(self, config: ModelConfig, weights: dict, device: torch.device, source: str = ""):
        self.config = config
        self.device = device
        self.source = source
        autoencoder = build_autoencoder(config)
        autoencoder.load_state_dict({k: v.float() for k, v in weights["autoencoder"].items()})
        self.codec = LatentCodec(autoencoder.to(device).eval(), config.latent_scale)
        self.structure = None
        self.mean = None
        if config.structure.kind == "mean":
            self.mean = load_residual_mean(config, weights["mean"]).to(device)
        elif config.diffusion.use_structure:
            self.structure = build_structure_network(config)
            self.structure.load_state_dict({k: v.float() for k, v in weights["structure"].items()})
            self.structure = self.structure.to(device).eval()
        self.unet = build_unet(config)
        self.unet.load_state_dict({k: v.float() for k, v in weights["unet"].items()})
        self.unet = self.unet.to(device).eval()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def contrasts(self) -> tuple[str, ...]:
        return self.config.contrasts

    @classmethod
    def load(cls, model_dir: Path, device: str | None = None, verify: bool = True) -> Synthesizer:
        """Load (once per process and device) the model folder written by `models.export`.

        Raises:
            SynthesisError: a missing file or a checksum that does not match the weights.
        """
        model_dir = Path(model_dir).resolve()
        chosen = choose_device(device)
        key = (str(model_dir), str(chosen))
        with cls._lock:
            if key in cls._cache:
                return cls._cache[key]
            for name in (CONFIG, WEIGHTS):
                if not (model_dir / name).is_file():
                    raise SynthesisError(f"{model_dir}: no {name}; is this a model folder from models.export?")
            if verify and (model_dir / CHECKSUM).is_file():
                expected = (model_dir / CHECKSUM).read_text().split()[0]
                if sha256(model_dir / WEIGHTS) != expected:
                    raise SynthesisError(f"{model_dir / WEIGHTS}: checksum differs from {CHECKSUM} (corrupt copy?)")
            config = load_config(model_dir / CONFIG)
            weights = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
            synthesizer = cls(config, weights, chosen, str(model_dir))
            logger.info("loaded model %s %s from %s on %s", config.name, config.version, model_dir, chosen)
            cls._cache[key] = synthesizer
            return synthesizer

    def check_request(self, present: tuple[str, ...], missing: list[str]) -> None:
        """Refuse what the model cannot do, naming the contrast at fault."""
        known = set(self.contrasts)
        unknown = sorted((set(missing) | set(present)) - known)
        if unknown:
            raise SynthesisError(f"contrast(s) {unknown} unknown to model {self.name}; it knows {list(self.contrasts)}")
        if not present:
            raise SynthesisError("no contrast present: at least one is needed to synthesize from")
        both = sorted(set(missing) & set(present))
        if both:
            raise SynthesisError(f"contrast(s) {both} are both present and asked for")
        if not missing:
            raise SynthesisError("nothing to synthesize: no missing contrast asked for")

    def _check_grid(self, grid: ModelGridVolume) -> None:
        size = self.config.data.image_size
        if grid.images.shape[1:3] != (size, size):
            raise SynthesisError(f"grid {grid.images.shape[1:3]} is not the model's {size}x{size} (use to_model_grid)")
        spacing = np.linalg.norm(grid.affine[:3, :3], axis=0)
        if not np.allclose(spacing, self.config.data.spacing_mm, atol=1e-3):
            raise SynthesisError(f"grid spacing {spacing} mm is not the model's {self.config.data.spacing_mm} mm")

    @torch.no_grad()
    def synthesize_grid(
        self,
        grid: ModelGridVolume,
        missing: list[str],
        *,
        seed: int = 0,
        sampler: SamplerConfig | None = None,
        progress: Progress | None = None,
    ) -> dict[str, np.ndarray]:
        """Missing contrasts on the model grid, in [-1, 1], shape (S, S, Z); background stays -1."""
        self.check_request(grid.contrasts, missing)
        self._check_grid(grid)
        sampler = sampler or self.config.sampler
        if self.mean is not None:
            return self._synthesize_residual(grid, missing, seed, sampler, progress)
        contrasts = self.contrasts
        size, depth = grid.images.shape[1], grid.images.shape[3]
        slices, images, available = grid.model_inputs(contrasts)
        # The autoencoder is most of the cost at few steps: encode only what is present (a missing contrast's
        # latents are masked out of the condition and of replacement anyway) and decode only what is asked for.
        present = [j for j, c in enumerate(contrasts) if c in grid.contrasts]
        wanted = [contrasts.index(c) for c in missing]
        generator = torch.Generator().manual_seed(seed)
        f = self.codec.autoencoder.downsample_factor
        latent_shape = (len(slices), len(contrasts) * self.codec.channels, size // f, size // f)
        if sampler.shared_noise:
            noise = torch.randn((1, *latent_shape[1:]), generator=generator).expand(latent_shape).contiguous()
        else:
            noise = torch.randn(latent_shape, generator=generator)
        outputs = np.full((len(contrasts), size, size, depth), -1.0, dtype=np.float32)
        batches = list(range(0, len(slices), sampler.batch_size))
        steps = sampler.steps if sampler.kind == "ddim" else self.config.diffusion.num_train_timesteps
        scheduler = build_ddim(self.config) if sampler.kind == "ddim" else build_ddpm(self.config)
        scheduler.set_timesteps(steps)
        done = 0
        for start in batches:
            part = slice(start, start + sampler.batch_size)
            x = images[part].to(self.device)
            mask = available[part].to(self.device)
            observed = self._encode_present(x, present)
            condition = diffusion_condition(self.config, self.structure, observed, x, mask)

            def report(step: int, total: int, offset: int = done) -> None:
                if progress is not None:
                    progress(offset + step, total * len(batches))

            latents = sample_latents(
                self.unet,
                scheduler,
                condition,
                noise[part].to(self.device),
                observed=observed,
                observed_mask=latent_channel_mask(mask, self.codec.channels),
                replace_observed=sampler.replace_observed,
                shared_noise=sampler.shared_noise,
                eta=sampler.eta,
                generator=generator,
                progress=report,
            )
            done += steps
            decoded = self._decode_missing(latents, wanted).float().cpu().numpy()  # float: bf16 under autocast
            for k, j in enumerate(wanted):
                outputs[j][..., slices[part]] = np.moveaxis(decoded[:, k], 0, -1)
        result = {}
        for contrast in missing:
            volume = outputs[contrasts.index(contrast)]
            result[contrast] = np.where(grid.foreground, volume, -1.0).astype(np.float32)
        return result

    def _synthesize_residual(
        self,
        grid: ModelGridVolume,
        missing: list[str],
        seed: int,
        sampler: SamplerConfig,
        progress: Progress | None,
    ) -> dict[str, np.ndarray]:
        """Second generation: the mean network's prediction, refined by the residual diffusion.

        `sampler.kind` "mean": the mean alone (no diffusion); "onestep": the mean refined by the UNet's one-step
        clean estimate (deterministic, one network evaluation); "ddim": a sample in `sampler.steps` steps from
        noise (one draw shared by every slice with `shared_noise`). With `image_residual` the refinement is added
        to the mean image rather than decoded with the mean's latent.
        """
        slices, images, available = grid.model_inputs(self.contrasts)
        wanted = [self.contrasts.index(c) for c in missing]
        size, depth = grid.images.shape[1], grid.images.shape[3]
        c = self.codec.channels
        generator = torch.Generator().manual_seed(seed)
        latent_size = size // self.codec.autoencoder.downsample_factor
        latent_shape = (len(slices), len(self.contrasts) * c, latent_size, latent_size)
        noise = None
        if sampler.kind == "ddim":
            if sampler.shared_noise:
                noise = torch.randn((1, *latent_shape[1:]), generator=generator).expand(latent_shape).contiguous()
            else:
                noise = torch.randn(latent_shape, generator=generator)
        scheduler = build_ddim(self.config)
        scheduler.set_timesteps(sampler.steps if sampler.kind == "ddim" else 1)
        outputs = np.full((len(wanted), size, size, depth), -1.0, dtype=np.float32)
        batches = list(range(0, len(slices), sampler.batch_size))
        for number, start in enumerate(batches):
            part = slice(start, start + sampler.batch_size)
            x, mask = images[part].to(self.device), available[part].to(self.device)
            if sampler.kind == "mean":
                # The mean alone never touches the autoencoder: encoding for the condition would cost most.
                decoded = self.mean.predict(x, mask).images[:, wanted]
            else:
                condition, mean_images = make_residual_condition(self.mean, self.codec, x, mask)
                latents = refine_residual(
                    self.unet,
                    scheduler,
                    condition,
                    None if noise is None else noise[part].to(self.device),
                    residual_scale=self.config.residual_scale,
                    eta=sampler.eta,
                    generator=generator,
                )
                decoded = self._decode_missing(latents, wanted)
                if sampler.image_residual:
                    base = self._decode_missing(condition.base, wanted)
                    decoded = (mean_images[:, wanted] + decoded - base).clamp(-1.0, 1.0)
            decoded = decoded.float().cpu().numpy()
            for k in range(len(wanted)):
                outputs[k][..., slices[part]] = np.moveaxis(decoded[:, k], 0, -1)
            if progress is not None:
                progress(number + 1, len(batches))
        return {
            contrast: np.where(grid.foreground, outputs[k], -1.0).astype(np.float32)
            for k, contrast in enumerate(missing)
        }

    def _encode_present(self, images: torch.Tensor, present: list[int]) -> torch.Tensor:
        """Stacked latents of every contrast, zeros where the contrast is absent."""
        c = self.codec.channels
        encoded = self.codec.encode(images[:, present])
        latents = encoded.new_zeros((images.shape[0], images.shape[1] * c, *encoded.shape[-2:]))
        for k, j in enumerate(present):
            latents[:, j * c : (j + 1) * c] = encoded[:, k * c : (k + 1) * c]
        return latents

    def _decode_missing(self, latents: torch.Tensor, wanted: list[int]) -> torch.Tensor:
        """Images (B, len(wanted), H, W) of the asked-for contrasts only."""
        c = self.codec.channels
        return self.codec.decode(torch.cat([latents[:, j * c : (j + 1) * c] for j in wanted], dim=1))

    def synthesize(
        self,
        volumes: dict[str, np.ndarray],
        affine: np.ndarray,
        missing: list[str],
        *,
        seed: int = 0,
        sampler: SamplerConfig | None = None,
        progress: Progress | None = None,
    ) -> dict[str, np.ndarray]:
        """Missing contrasts on the input grid, intensities in [0, 1]."""
        on_model_grid, model_affine = self.synthesize_on_model_grid(
            volumes, affine, missing, seed=seed, sampler=sampler, progress=progress
        )
        shape = next(iter(volumes.values())).shape
        return {c: resample_to_grid(v, model_affine, affine, shape) for c, v in on_model_grid.items()}

    def synthesize_on_model_grid(
        self,
        volumes: dict[str, np.ndarray],
        affine: np.ndarray,
        missing: list[str],
        *,
        seed: int = 0,
        sampler: SamplerConfig | None = None,
        progress: Progress | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Missing contrasts on the model grid, intensities in [0, 1], and that grid's RAS affine.

        For callers that put the result on grids of their own (the DICOM writer's reference series): sampling
        from the model grid, not from `synthesize`'s input grid, interpolates each output once.
        """
        self.check_request(tuple(volumes), missing)
        start = time.perf_counter()
        grid = to_model_grid(volumes, affine, self.config.data)
        on_grid = self.synthesize_grid(grid, missing, seed=seed, sampler=sampler, progress=progress)
        result = {c: np.clip((v + 1.0) / 2.0, 0.0, 1.0) for c, v in on_grid.items()}
        logger.info("synthesized %s from %s in %.1f s", missing, list(grid.contrasts), time.perf_counter() - start)
        return result, np.asarray(grid.affine, dtype=np.float64)
