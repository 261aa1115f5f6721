"""Networks and schedulers rebuilt from a `ModelConfig`: the one place that maps recipe to modules."""

from __future__ import annotations

from monai.networks.nets import DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

from models.config import DiffusionConfig, ModelConfig
from models.diffusion.residual import residual_condition_channels
from models.networks.autoencoder import VQAutoencoder
from models.networks.guided_mean import StructureGuidedMean
from models.networks.kl_autoencoder import KLAutoencoder
from models.networks.regression_unet import RegressionMean
from models.networks.structure_mean import StructureMeanNetwork
from models.networks.structure_network import StructureNetwork


def build_autoencoder(config: ModelConfig) -> VQAutoencoder | KLAutoencoder:
    a = config.autoencoder
    if a.kind == "kl":
        return KLAutoencoder(
            channels=a.channels,
            num_res_blocks=a.num_res_blocks,
            latent_channels=a.latent_channels,
            norm_num_groups=a.norm_num_groups,
        )
    return VQAutoencoder(
        spatial_dims=2,
        in_channels=1,
        channels=a.channels,
        num_res_blocks=a.num_res_blocks,
        latent_channels=a.latent_channels,
        num_embeddings=a.num_embeddings,
        commitment_cost=a.commitment_cost,
        attention_in_mid=a.attention_in_mid,
        norm_num_groups=a.norm_num_groups,
    )


def _structure_arguments(config: ModelConfig) -> dict:
    s = config.structure
    return {
        "num_contrasts": len(config.contrasts),
        "base_channels": s.base_channels,
        "structure_channels": s.structure_channels,
        "style_dim": s.style_dim,
        "num_seg_classes": s.num_seg_classes,
        "attention_heads": s.attention_heads,
        "dropout": s.dropout,
        "msse_alpha": s.msse_alpha,
        "decoder_channels": s.decoder_channels,
        "style_channels": s.style_channels,
    }


def build_structure_network(config: ModelConfig) -> StructureNetwork:
    return StructureNetwork(**_structure_arguments(config))


def build_mean_network(config: ModelConfig) -> StructureMeanNetwork:
    """The second-generation structure network: skip decoders and a style predictor (`structure.kind: mean`)."""
    return StructureMeanNetwork(**_structure_arguments(config))


def build_guided_mean(config: ModelConfig) -> StructureGuidedMean:
    """The structure-guided U-Net (`diffusion.mean_source: guided`)."""
    return StructureGuidedMean(build_structure_network(config), len(config.contrasts))


ResidualMean = StructureMeanNetwork | StructureGuidedMean | RegressionMean


def build_residual_mean(config: ModelConfig) -> ResidualMean:
    """What the residual diffusion refines: the mean network, the structure-guided U-Net, or (ablations) a plain
    U-Net regression with a zero structure map."""
    source = config.diffusion.mean_source
    if source in ("regression", "unguided"):
        return RegressionMean(len(config.contrasts), config.structure.structure_channels)
    if source == "guided":
        return build_guided_mean(config)
    return build_mean_network(config)


def load_residual_mean(config: ModelConfig, state: dict) -> ResidualMean:
    """The residual diffusion's mean with its weights (a regression U-Net's own keys, or the whole module's)."""
    mean = build_residual_mean(config)
    target = mean.network if isinstance(mean, RegressionMean) else mean
    target.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return mean.eval()


MEAN_STAGES = {
    "structure": ("mean", "structure"),
    "guided": ("guided", "network"),
    "unguided": ("unguided", "network"),
    "regression": ("regression", "regression"),
}
"""mean_source -> (training stage, weights key) of the residual diffusion's mean."""


def residual_mean_stage(config: ModelConfig) -> tuple[str, str]:
    """(training stage, weights key) of the residual diffusion's mean."""
    return MEAN_STAGES[config.diffusion.mean_source]


def condition_channels(config: ModelConfig) -> int:
    """Channels concatenated to the noisy latents: the structure map, or (ablation) the observed latents + mask."""
    m = len(config.contrasts)
    if config.diffusion.use_structure:
        return config.structure.structure_channels
    return m * config.autoencoder.latent_channels + m


def build_unet(config: ModelConfig) -> DiffusionModelUNet:
    d = config.diffusion
    latents = len(config.contrasts) * config.autoencoder.latent_channels
    condition = condition_channels(config)
    if d.kind == "residual":
        condition = residual_condition_channels(
            len(config.contrasts), config.autoencoder.latent_channels, config.structure.structure_channels
        )
    return DiffusionModelUNet(
        spatial_dims=2,
        in_channels=latents + condition,
        out_channels=latents,
        channels=d.channels,
        attention_levels=d.attention_levels,
        num_res_blocks=d.num_res_blocks,
        num_head_channels=d.num_head_channels,
    )


def _schedule_args(d: DiffusionConfig) -> dict:
    # MONAI's "scaled_linear_beta" is LDM's "linear": linspace of square roots, squared.
    return {
        "num_train_timesteps": d.num_train_timesteps,
        "schedule": "scaled_linear_beta",
        "beta_start": d.beta_start,
        "beta_end": d.beta_end,
        "clip_sample": False,
        "prediction_type": "sample" if d.kind == "residual" else "epsilon",
    }


def build_ddpm(config: ModelConfig) -> DDPMScheduler:
    return DDPMScheduler(**_schedule_args(config.diffusion))


def build_ddim(config: ModelConfig) -> DDIMScheduler:
    return DDIMScheduler(**_schedule_args(config.diffusion), set_alpha_to_one=True)
