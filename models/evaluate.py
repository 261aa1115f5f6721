"""Evaluate synthesis per missing-contrast scenario on held-out subjects, against baselines.

    python -m models.evaluate --model MODEL_DIR --data DIR [--layout brats] --out DIR
        [--split RUN/split.json] [--scenarios all|"flair;t1ce,flair"] [--samplers ddim:20,ddpm:1000]
        [--baselines nearest,regression] [--compare LABEL=MODEL_DIR] [--max-subjects N] [--max-slices N]

Metrics (models.metrics) on the model grid inside the brain mask, also inside
and outside lesions, and on sagittal/coronal reformats. Writes
`evaluation.json` (every row and the summary) and `evaluation.md`.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from models.baselines.nearest import NearestContrastBaseline
from models.baselines.regression import RegressionBaseline
from models.config import SamplerConfig
from models.data.layouts import find_cases
from models.data.slices import load_case_on_grid
from models.evaluation.report import markdown_table, paired_table, paper_table, reformat_table, summarise
from models.evaluation.scenarios import parse_scenarios, present_only, scenario_name
from models.metrics import high_frequency_ratio, image_metrics, paper_metrics, reformat_metrics, region_metrics
from models.sampler_spec import parse_samplers, sampler_label
from models.synthesis import Synthesizer
from product.process import ensure_stack_size

logger = logging.getLogger("models.evaluate")


def central_slab(grid, max_slices: int | None):
    """Restrict a grid to its `max_slices` central foreground slices (to afford slow samplers)."""
    if not max_slices:
        return grid
    slices = grid.slice_indices(0.02)
    if len(slices) <= max_slices:
        return grid
    keep = slices[(len(slices) - max_slices) // 2 :][:max_slices]
    grid = replace(grid)
    grid.foreground = grid.foreground.copy()
    grid.foreground[..., np.setdiff1d(np.arange(grid.foreground.shape[-1]), keep)] = False
    return grid


def _score(prediction: np.ndarray, truth: np.ndarray, brain: np.ndarray, lesion: np.ndarray) -> dict:
    row = image_metrics(prediction, truth, brain)
    regions = region_metrics(prediction, truth, brain, lesion)
    if "lesion" in regions:
        row.update(lesion_psnr=regions["lesion"]["psnr"], lesion_ssim=regions["lesion"]["ssim"])
    row.update(reformat_metrics(prediction, truth, brain))
    row["high_frequency_ratio"] = high_frequency_ratio(prediction, truth, brain)
    row.update(paper_metrics(prediction, truth, brain))
    return row


class ComparedModel:
    """Another exported model (e.g. the LDM without the structure path) as a method, with its default sampler."""

    def __init__(self, synthesizer: Synthesizer, seed: int):
        self.synthesizer, self.seed = synthesizer, seed

    def predict(self, grid, missing: list[str]) -> dict[str, np.ndarray]:
        return self.synthesizer.synthesize_grid(grid, missing, seed=self.seed)


def evaluate(args: argparse.Namespace) -> dict:
    synthesizer = Synthesizer.load(args.model)
    config = synthesizer.config
    cases = {c.case_id: c for c in find_cases(args.data, args.layout)}
    split = json.loads(Path(args.split).read_text()) if args.split else None
    test_ids = split["test"] if split else sorted(cases)
    test_ids = test_ids[: args.max_subjects] if args.max_subjects else test_ids
    scenarios = parse_scenarios(args.scenarios, config.contrasts)
    samplers = parse_samplers(args.samplers, config.sampler)
    methods: dict[str, object] = {sampler_label(s): s for s in samplers}
    if "nearest" in args.baselines:
        if not split:
            raise SystemExit("--baselines nearest needs --split (it learns intensity maps on the training subjects)")
        train = [load_case_on_grid(cases[c], config.data) for c in split["train"][: args.fit_subjects]]
        methods["nearest"] = NearestContrastBaseline.fit(train)
    if "regression" in args.baselines:
        weights = args.regression or (Path(args.split).parent / "regression" / "weights.pt" if args.split else None)
        if weights is None or not Path(weights).is_file():
            raise SystemExit(f"--baselines regression: no weights at {weights} (train --stage regression first)")
        methods["regression"] = RegressionBaseline.load(weights, config)
    for item in args.compare:
        label, _, folder = item.partition("=")
        other = Synthesizer.load(Path(folder))
        if other.config.data != config.data or other.contrasts != config.contrasts:
            raise SystemExit(f"--compare {item}: its grid or contrasts differ from {args.model}'s")
        methods[label] = ComparedModel(other, args.seed)
    rows = []
    for case_id in test_ids:
        truth_grid = central_slab(load_case_on_grid(cases[case_id], config.data), args.max_slices)
        brain = truth_grid.brain_mask.astype(bool) if truth_grid.brain_mask is not None else truth_grid.foreground
        brain = brain & truth_grid.foreground
        lesion = truth_grid.labels > 0 if truth_grid.labels is not None else np.zeros_like(brain)
        for missing in scenarios:
            given = present_only(truth_grid, missing)
            for label, method in methods.items():
                start = time.perf_counter()
                if isinstance(method, SamplerConfig):
                    seed = args.seed
                    predictions = synthesizer.synthesize_grid(given, list(missing), seed=seed, sampler=method)
                else:
                    predictions = method.predict(given, list(missing))
                seconds = time.perf_counter() - start
                for target, prediction in predictions.items():
                    row = _score(prediction, truth_grid.image(target), brain, lesion)
                    row.update(
                        subject=case_id,
                        scenario=scenario_name(missing, config.contrasts),
                        target=target,
                        method=label,
                        seconds=seconds,
                    )
                    rows.append(row)
                logger.info("%s %s %s: %.1f s", case_id, scenario_name(missing, config.contrasts), label, seconds)
    summary = summarise(rows)
    return {
        "model": {"name": config.name, "version": config.version, "folder": Path(args.model).name},
        "data": {"folder": Path(args.data).name, "layout": args.layout, "subjects": test_ids},
        "max_slices": args.max_slices,
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
        "methods": list(methods),
        "rows": rows,
        "summary": summary,
    }


def write_report(result: dict, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(result, indent=1))
    methods = result["methods"]
    slab = f", central {result['max_slices']} slices" if result["max_slices"] else ""
    text = [
        f"# Evaluation of {result['model']['name']} {result['model']['version']}",
        "",
        f"Data: `{result['data']['folder']}` ({result['data']['layout']} layout), "
        f"{len(result['data']['subjects'])} held-out subjects{slab}. Made by:",
        "",
        f"    {command}",
        "",
        "PSNR (dB) / SSIM / MAE inside the brain mask, each volume scaled by its own 0.5-99.5 percentiles "
        "(models/metrics.py); mean over subjects. Best PSNR per row in bold.",
        "",
        markdown_table(result["summary"], methods),
        "",
        "## Across slices (striping) and detail",
        "",
        reformat_table(result["summary"], methods),
        "",
    ]
    text += [
        "## As papers report it (for published tables only)",
        "",
        "Skull-stripped, min-max scaled over the brain, PSNR / SSIM over whole axial slices with their zero "
        "background (models.metrics.paper_metrics): higher than the in-brain numbers above by construction.",
        "",
        paper_table(result["summary"], methods),
        "",
    ]
    baselines = list(methods[1:])
    if len(methods) > 1:
        text += [
            f"## {methods[0]} against the other methods, paired per subject",
            "",
            "Mean PSNR difference (dB) over subjects, with a 95 % paired bootstrap interval (subjects resampled).",
            "",
            paired_table(result["rows"], methods[0], baselines),
            "",
        ]
    (out / "evaluation.md").write_text("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    ensure_stack_size()
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--layout", choices=("brats", "wmh"), default="brats")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", type=Path, help="split.json of the training run (its test subjects are used)")
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--samplers", default="", help="e.g. ddim:20,ddim:20:shared,ddpm:1000 (default: the model's)")
    parser.add_argument("--baselines", default="nearest", help="comma-separated: nearest, regression (or empty)")
    parser.add_argument("--regression", type=Path, help="regression baseline weights (default: RUN/regression/)")
    parser.add_argument(
        "--compare", action="append", default=[], help="LABEL=MODEL_DIR: another exported model as a method"
    )
    parser.add_argument("--max-subjects", type=int)
    parser.add_argument("--fit-subjects", type=int, default=10, help="training subjects the baselines learn from")
    parser.add_argument("--max-slices", type=int, help="evaluate only this many central slices per subject")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.baselines = [b for b in args.baselines.split(",") if b]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = evaluate(args)
    write_report(result, args.out, "python -m models.evaluate " + " ".join(argv if argv is not None else sys.argv[1:]))
    print((args.out / "evaluation.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
