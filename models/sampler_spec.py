"""Sampler specs as people type them ("mean", "onestep:image", "ddim:10:shared:image"), for the evaluation, the
export's default and the app's option, and the label each gets in reports."""

from __future__ import annotations

from dataclasses import replace

from models.config import SamplerConfig

SAMPLER_OPTIONS = ("shared", "independent", "replace", "noreplace", "image")


def parse_samplers(text: str, default: SamplerConfig) -> list[SamplerConfig]:
    """'ddim:20,ddim:20:shared,ddpm:1000,mean,onestep' -> sampler settings (the model's default when empty).

    Second-generation models also take "mean" (the mean network alone, no diffusion) and "onestep" (the mean
    refined by the diffusion's one-step clean estimate).

    Options after the steps: shared / independent (one noise draw for all slices, or one per slice),
    replace / noreplace (keep the present contrasts' latents fixed during sampling, or not), etaX (DDIM's
    stochasticity: 0 deterministic, 1 the DDPM's ancestral sampling on the shorter schedule), image (residual
    models, also after onestep: the refinement added to the mean image, `SamplerConfig.image_residual`).
    """
    if not text:
        return [default]
    samplers = []
    for item in text.split(","):
        kind, *rest = item.split(":")
        if kind in ("mean", "onestep"):
            if [o for o in rest if o != "image" or kind == "mean"]:
                allowed = "no option" if kind == "mean" else "only the option image"
                raise ValueError(f"sampler {item!r}: {kind} takes {allowed}")
            samplers.append(replace(default, kind=kind, steps=1, image_residual="image" in rest))
            continue
        if kind not in ("ddim", "ddpm"):
            raise ValueError(f"sampler {item!r}: kind must be ddim, ddpm, mean or onestep")
        steps = int(rest[0]) if rest and rest[0] else default.steps
        sampler = replace(default, kind=kind, steps=steps)
        for option in rest[1:]:
            if option.startswith("eta") and kind == "ddim":
                try:
                    sampler = replace(sampler, eta=float(option[3:]))
                except ValueError:
                    raise ValueError(f"sampler {item!r}: {option!r} is not eta followed by a number") from None
                continue
            if option not in SAMPLER_OPTIONS:
                raise ValueError(f"sampler {item!r}: option {option!r} is not one of {', '.join(SAMPLER_OPTIONS)}")
            if option in ("shared", "independent"):
                sampler = replace(sampler, shared_noise=option == "shared")
            elif option == "image":
                sampler = replace(sampler, image_residual=True)
            else:
                sampler = replace(sampler, replace_observed=option == "replace")
        samplers.append(sampler)
    return samplers


def sampler_label(sampler: SamplerConfig) -> str:
    image = "-image" if sampler.image_residual and sampler.kind != "mean" else ""
    if sampler.kind in ("mean", "onestep"):
        return f"msgldm-{sampler.kind}{image}"
    steps = sampler.steps if sampler.kind == "ddim" else 1000
    return (
        f"msgldm-{sampler.kind}{steps}"
        + (f"-eta{sampler.eta:g}" if sampler.kind == "ddim" and sampler.eta else "")
        + ("-shared" if sampler.shared_noise else "")
        + ("" if sampler.replace_observed else "-noreplace")
        + image
    )
