"""The recipe of a model: versioned, saved with the weights, the one source `build_*` functions read.

Layers: code defaults (these frozen dataclasses), then a YAML file. A model
folder carries its own `model.yaml`, so inference never guesses how the
weights were made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_VERSION = 1
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
CPU_RECIPE = CONFIGS_DIR / "cpu.yaml"
"""The recipe a new run uses when none is named: trains in about two hours on two cores."""


@dataclass(frozen=True)
class DataConfig:
    """The model grid and intensity normalisation (shared by training and the application).

    The paper works on 192x192 axial slices at 1 mm (BraTS); the CPU
    configuration uses 128x128 at 1.75 mm so that a whole head fits and a
    model trains in hours on two cores.
    """

    contrasts: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
    spacing_mm: float = 1.75
    image_size: int = 128
    lower_percentile: float = 0.0
    upper_percentile: float = 99.5
    min_foreground_fraction: float = 0.03
    intensity_reference: str = "head"
    """What sets the top of [-1, 1]: "head" (the head's `upper_percentile`: bright scalp fat squashes the brain
    into a quarter to a third of the range) or "brain": the `brain_percentile` of the head's central box, which is
    brain on every axial slice through the widest part of the head, maps to `brain_level` of the range (0.4: up to
    2.5x that value, an enhancing rim or edema, stays unclipped; scalp fat above it clips). No brain mask needed."""
    brain_percentile: float = 90.0
    brain_level: float = 0.4
    brain_box_fraction: float = 0.4


@dataclass(frozen=True)
class AutoencoderConfig:
    """Stage 0: one single-channel autoencoder shared by all contrasts (f = 2**(len(channels)-1)).

    `kind` "vq": the reference's quantized autoencoder; "kl": MONAI's continuous `AutoencoderKL` (as MONAI's 2D
    LDM tutorial and MAISI), whose posterior mean is the latent, trained with a loss weighted towards the brain.
    """

    kind: str = "vq"
    channels: tuple[int, ...] = (16, 32, 64, 64)
    num_res_blocks: int = 1
    latent_channels: int = 4
    num_embeddings: int = 1024
    commitment_cost: float = 0.25
    attention_in_mid: bool = True
    norm_num_groups: int = 16
    kl_weight: float = 1e-6
    brain_weight: float = 4.0
    """Loss weight of brain voxels relative to the rest of the head (the evaluation is inside the brain)."""
    train_crop: int = 0
    """Square crops (centred on a random brain pixel) to train the convolutional "kl" autoencoder on: 4x fewer
    pixels a sample at 64 on a 128 grid; 0 trains on whole slices."""


@dataclass(frozen=True)
class StructureConfig:
    """Stage 1: structure encoders with HFIB, MMSF, MSSE, style encoders, AdaIN decoders, segmentation.

    `kind` "reference": decoders from F_s alone, each contrast with its own style code (trained as stage
    "structure"); "mean": skip decoders and a style predictor, a deterministic mean of the missing contrasts from
    the present ones only (`StructureMeanNetwork`, trained as stage "mean").
    """

    kind: str = "reference"
    base_channels: int = 8
    structure_channels: int = 64
    decoder_channels: int = 64
    style_channels: int = 16
    style_dim: int = 8
    num_seg_classes: int = 4
    attention_heads: int = 4
    dropout: float = 0.3
    msse_alpha: float = 0.5


@dataclass(frozen=True)
class DiffusionConfig:
    """Stage 2: the UNet denoising the stacked latents with the structure map concatenated.

    Schedule as the reference: 1000 steps, LDM "linear" betas
    (linspace of square roots, squared) from 0.0015 to 0.0195.
    """

    channels: tuple[int, ...] = (64, 128, 256)
    attention_levels: tuple[bool, ...] = (False, True, True)
    num_res_blocks: int = 1
    num_head_channels: int = 32
    num_train_timesteps: int = 1000
    beta_start: float = 0.0015
    beta_end: float = 0.0195
    use_structure: bool = True
    kind: str = "reference"
    """"reference": epsilon prediction over all contrasts' latents (0.2.x); "residual": the clean residual over
    the mean network's latents (models/diffusion/residual.py), loss on missing contrasts only."""
    min_snr_gamma: float = 5.0
    """Residual kind: x0 loss weight min(SNR + 1, gamma); the noisiest steps (the one-step estimate) keep weight 1."""
    bank_patterns: int = 2
    bank_slice_stride: int = 2
    mean_source: str = "structure"
    """Residual kind: the mean refined. "structure": the structure network's own decoders (MSG-LDM's mean as
    first built); "guided": the structure-guided U-Net (models/networks/guided_mean.py), the regression
    fine-tuned with the structure pyramid added; "unguided": its ablation twin, the same U-Net fine-tuned the
    same way without the structure (zero structure map); "regression": the fair regression itself."""


MEAN_SOURCES = ("structure", "guided", "unguided", "regression")


@dataclass(frozen=True)
class SamplerConfig:
    """The default sampler at inference: DDIM with few steps, observed latents kept fixed.

    `kind`: "ddim" or "ddpm" (the 1000-step reference); for second-generation models also "mean" (the mean
    network alone) and "onestep" (the mean refined by the residual diffusion's one-step clean estimate).

    `shared_noise` starts every slice from the same noise draw: with DDIM (eta 0) the result is then a
    smooth function of each slice's condition, so neighbouring slices differ by their anatomy, not by
    their noise (less striping on sagittal and coronal reformats).
    """

    kind: str = "ddim"
    steps: int = 20
    eta: float = 0.0
    replace_observed: bool = True
    shared_noise: bool = False
    seed: int = 0
    batch_size: int = 32
    image_residual: bool = False
    """Residual kind: add the diffusion's refinement to the mean *image*, as decode(base + r) - decode(base),
    instead of decoding base + r. A zero residual then returns the mean itself: no autoencoder round trip on the
    mean (at 32.6 dB against a 23.5 dB mean, about 0.5 dB), at the cost of a second decode."""


@dataclass(frozen=True)
class StageTraining:
    """Optimisation of one stage; `max_minutes` stops a run cleanly so it fits a session."""

    steps: int = 2000
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    log_every: int = 25
    checkpoint_every: int = 200
    max_minutes: float = 0.0
    ema_decay: float = 0.0
    warmup_steps: int = 0
    """Linear warm-up of the learning rate; after a resume without optimizer state it warms up again."""
    cosine_decay: bool = False
    """Cosine decay of the learning rate to 5 % at `steps` (the planned total, across sessions)."""
    bf16: bool = False
    """bf16 autocast for the forward passes where the CPU has native bf16 (1.65x on a Zen 4,
    bench/results/compute.md); ignored on AVX2-only CPUs, which emulate it about 35x slower."""


@dataclass(frozen=True)
class TrainingConfig:
    autoencoder: StageTraining = field(default_factory=lambda: StageTraining(steps=3000, batch_size=16))
    structure: StageTraining = field(default_factory=lambda: StageTraining(steps=3000, batch_size=8))
    diffusion: StageTraining = field(default_factory=lambda: StageTraining(steps=6000, batch_size=32, ema_decay=0.999))
    regression: StageTraining = field(default_factory=lambda: StageTraining(steps=3000, batch_size=16))
    mean: StageTraining = field(default_factory=lambda: StageTraining(steps=3000, batch_size=6))
    guided: StageTraining = field(default_factory=lambda: StageTraining(steps=2000, batch_size=6))
    """The structure-guided mean's fine-tuning from the finished regression and mean."""
    unguided: StageTraining = field(default_factory=lambda: StageTraining(steps=2000, batch_size=6))
    """Its twin's, from the same regression without the structure: the same recipe, at least the same CPU time."""
    disc_start: int = 500
    seed: int = 0
    validation_fraction: float = 0.15
    test_fraction: float = 0.25


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a trained MSG-LDM; saved as `model.yaml` beside its weights."""

    name: str = "msgldm-cpu"
    version: str = "0.0.0"
    config_version: int = CONFIG_VERSION
    data: DataConfig = field(default_factory=DataConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    latent_scale: float = 1.0
    residual_scale: float = 1.0
    """Residual kind: 1 / std of the residual over the mean on training slices, so the diffusion sees unit variance."""

    @property
    def contrasts(self) -> tuple[str, ...]:
        return self.data.contrasts

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def _build(cls: type, values: dict[str, Any] | None, where: str):
    """Dataclass from a mapping, refusing unknown keys by name (a typo must not pass silently)."""
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        nested = _NESTED.get((cls.__name__, name))
        if nested is not None:
            kwargs[name] = _build(nested, value, f"{where}.{name}")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


_NESTED: dict[tuple[str, str], type] = {
    ("ModelConfig", "data"): DataConfig,
    ("ModelConfig", "autoencoder"): AutoencoderConfig,
    ("ModelConfig", "structure"): StructureConfig,
    ("ModelConfig", "diffusion"): DiffusionConfig,
    ("ModelConfig", "sampler"): SamplerConfig,
    ("ModelConfig", "training"): TrainingConfig,
    ("TrainingConfig", "autoencoder"): StageTraining,
    ("TrainingConfig", "structure"): StageTraining,
    ("TrainingConfig", "diffusion"): StageTraining,
    ("TrainingConfig", "regression"): StageTraining,
    ("TrainingConfig", "mean"): StageTraining,
    ("TrainingConfig", "guided"): StageTraining,
    ("TrainingConfig", "unguided"): StageTraining,
}


def config_from_dict(values: dict[str, Any], where: str = "config") -> ModelConfig:
    config = _build(ModelConfig, values, where)
    if config.config_version != CONFIG_VERSION:
        raise ValueError(f"{where}: config_version {config.config_version} is not {CONFIG_VERSION}")
    if config.data.image_size % 8:
        raise ValueError(f"{where}: data.image_size {config.data.image_size} must be a multiple of 8")
    if config.data.intensity_reference not in ("head", "brain"):
        raise ValueError(f"{where}: data.intensity_reference {config.data.intensity_reference!r} is not head or brain")
    if config.diffusion.kind not in ("reference", "residual"):
        raise ValueError(f"{where}: diffusion.kind {config.diffusion.kind!r} is not reference or residual")
    if config.diffusion.kind == "residual" and config.structure.kind != "mean":
        raise ValueError(f"{where}: diffusion.kind residual needs structure.kind mean (the mean it refines)")
    if config.sampler.kind not in ("ddim", "ddpm", "mean", "onestep"):
        raise ValueError(f"{where}: sampler.kind {config.sampler.kind!r} is not ddim, ddpm, mean or onestep")
    if config.sampler.kind in ("mean", "onestep") and config.diffusion.kind != "residual":
        raise ValueError(f"{where}: sampler.kind {config.sampler.kind} needs diffusion.kind residual")
    if config.diffusion.mean_source not in MEAN_SOURCES:
        raise ValueError(
            f"{where}: diffusion.mean_source {config.diffusion.mean_source!r} is not one of {', '.join(MEAN_SOURCES)}"
        )
    if config.structure.kind not in ("reference", "mean"):
        raise ValueError(f"{where}: structure.kind {config.structure.kind!r} is not reference or mean")
    if config.autoencoder.kind not in ("vq", "kl"):
        raise ValueError(f"{where}: autoencoder.kind {config.autoencoder.kind!r} is not vq or kl")
    return config


def load_config(path: Path) -> ModelConfig:
    """Read a YAML recipe (a partial one is completed with the code defaults)."""
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read model config {path}: {err}") from err
    return config_from_dict(values, where=str(path))


def save_config(config: ModelConfig, path: Path) -> None:
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    Path(path).write_text(yaml.safe_dump(plain(config.to_dict()), sort_keys=False))
