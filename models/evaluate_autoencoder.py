"""The first stage's round trip on held-out subjects, in the evaluation's metric: the ceiling of every later stage.

    python -m models.evaluate_autoencoder --run RUN --data DIR [--split RUN/split.json] [--max-subjects N] [--out DIR]
                                          [--weights RUN/autoencoder/checkpoint.pt]  (a run still training)

Each held-out volume is brought to the model grid, every slice of each contrast is encoded and decoded by the
run's autoencoder (its EMA weights where it keeps them), and PSNR / SSIM / MAE are taken inside the brain exactly
as `models.evaluate` takes them (models/metrics.py). A bicubic shrink to the latent's number of values and back
is scored beside it, as a reference a learned code must beat.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.build import build_autoencoder
from models.config import load_config
from models.data.layouts import find_cases
from models.data.slices import load_case_on_grid
from models.export import stage_weights
from models.metrics import image_metrics
from product.process import ensure_stack_size

logger = logging.getLogger("models.evaluate_autoencoder")


@torch.no_grad()
def round_trip(autoencoder, volume: np.ndarray, slices: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(S, S, Z) volume in [-1, 1] -> its reconstruction on the given slices (others left as they were)."""
    out = volume.copy()
    for start in range(0, len(slices), batch_size):
        part = slices[start : start + batch_size]
        x = torch.from_numpy(np.moveaxis(volume[..., part], -1, 0)[:, None].copy())
        recon = autoencoder.decode(autoencoder.encode(x)).clamp(-1.0, 1.0)
        out[..., part] = np.moveaxis(recon[:, 0].numpy(), 0, -1)
    return out


def bicubic_shrink(volume: np.ndarray, factor: float, slices: np.ndarray) -> np.ndarray:
    """Each slice shrunk by `factor` in x and y (bicubic, antialiased) and enlarged back: a code of the same size."""
    out = volume.copy()
    x = torch.from_numpy(np.moveaxis(volume[..., slices], -1, 0)[:, None].copy())
    small = F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
    back = F.interpolate(small, size=x.shape[-2:], mode="bicubic", align_corners=False).clamp(-1.0, 1.0)
    out[..., slices] = np.moveaxis(back[:, 0].numpy(), 0, -1)
    return out


def evaluate_round_trip(
    run: Path, data: Path, split_path: Path, layout: str, max_subjects: int | None, weights: Path | None = None
) -> dict:
    config = load_config(run / "config.yaml")
    autoencoder = build_autoencoder(config)
    autoencoder.load_state_dict(stage_weights(weights or run / "autoencoder" / "weights.pt", "autoencoder"))
    autoencoder.eval()
    # The bicubic shrink that keeps as many values per slice as the latent (c channels at 1/f the size).
    shrink = autoencoder.downsample_factor / np.sqrt(config.autoencoder.latent_channels)
    cases = {c.case_id: c for c in find_cases(data, layout)}
    test_ids = json.loads(Path(split_path).read_text())["test"]
    test_ids = test_ids[:max_subjects] if max_subjects else test_ids
    rows = []
    for case_id in test_ids:
        grid = load_case_on_grid(cases[case_id], config.data)
        brain = grid.brain_mask.astype(bool) if grid.brain_mask is not None else grid.foreground
        brain = brain & grid.foreground
        slices = grid.slice_indices(1e-6)
        for contrast in grid.contrasts:
            truth = grid.image(contrast)
            for method, recon in (
                ("autoencoder", round_trip(autoencoder, truth, slices)),
                (f"bicubic-{shrink:g}x", bicubic_shrink(truth, shrink, slices)),
            ):
                row = image_metrics(recon, truth, brain)
                row.update(subject=case_id, contrast=contrast, method=method)
                rows.append(row)
        logger.info("%s done", case_id)
    summary = {}
    for method in sorted({r["method"] for r in rows}):
        for contrast in ("all", *config.contrasts):
            chosen = [r for r in rows if r["method"] == method and contrast in ("all", r["contrast"])]
            summary.setdefault(method, {})[contrast] = {
                k: float(np.mean([r[k] for r in chosen])) for k in ("psnr", "ssim", "mae")
            }
    return {
        "run": run.name,
        "subjects": test_ids,
        "config": config.autoencoder.__dict__,
        "rows": rows,
        "summary": summary,
    }


def markdown(result: dict) -> str:
    contrasts = [c for c in next(iter(result["summary"].values())) if c != "all"]
    lines = [
        "| method | " + " | ".join(contrasts) + " | mean |",
        "|---|" + "---|" * (len(contrasts) + 1),
    ]
    for method, by in result["summary"].items():
        cells = [f"{by[c]['psnr']:.2f} / {by[c]['ssim']:.3f}" for c in (*contrasts, "all")]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ensure_stack_size()
    parser = argparse.ArgumentParser(prog="python -m models.evaluate_autoencoder", description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--layout", choices=("brats", "wmh"), default="brats")
    parser.add_argument("--split", type=Path, help="split.json (default: RUN/split.json)")
    parser.add_argument("--max-subjects", type=int)
    parser.add_argument(
        "--weights", type=Path, help="weights.pt, checkpoint.pt or resume.pt (default: RUN/autoencoder/weights.pt)"
    )
    parser.add_argument("--out", type=Path, help="folder for autoencoder.json and autoencoder.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    split = args.split or args.run / "split.json"
    result = evaluate_round_trip(args.run, args.data, split, args.layout, args.max_subjects, args.weights)
    table = markdown(result)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "autoencoder.json").write_text(json.dumps(result, indent=1))
        (args.out / "autoencoder.md").write_text(
            f"# Autoencoder round trip, {len(result['subjects'])} held-out subjects\n\n"
            "PSNR (dB) / SSIM inside the brain, the evaluation's percentile scaling (models/metrics.py).\n\n"
            + table
            + "\n"
        )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
