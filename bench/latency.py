"""Per-study latency in folder mode: total and per stage, peak memory, for studies missing one, two and three contrasts.

    python -m bench.latency [--repeats 2] [--sampler-steps N] [--model DIR --model DIR ...]

Each run is `python -m app -i STUDY -o OUT` in a fresh process (what a MAP
run costs: imports, model load, graph), on simulated whole-head studies, CPU
with every core. Stage times come from report.json; peak RSS from the
kernel's accounting of that process (wait4). The same run measures two
references: the dry run of the same study (load, select, identify only) and
a float32 matrix product (GFLOP/s of this machine at this moment), so the
figures can be read as ratios on a shared, noisy machine. With several
`--model`s (e.g. the shipped one and the one it replaced) each is measured in
the same run, one row per model and scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import run_with_peak_rss, simulated_study, spread, write

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = {"1 missing (flair)": "t1,t1ce,t2", "2 missing (t1ce, flair)": "t1,t2", "3 missing (t1, t1ce, t2)": "flair"}
STAGES = ("loading", "selection", "identification", "volumes", "synthesis", "writing", "preview")


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def run_app(study: Path, out: Path, *flags: str) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MB, report) of one `python -m app` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    command = [sys.executable, "-m", "app", "-i", str(study), "-o", str(out), *flags]
    code, peak_mb = run_with_peak_rss(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"python -m app on {study} exited {code}")
    return seconds, peak_mb, json.loads((out / "report.json").read_text())


def _study(root: Path, contrasts: str) -> Path:
    return simulated_study(root / contrasts.replace(",", "-"), 7, contrasts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sampler-steps", type=int, help="DDIM steps (default: the model's)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-latency")
    parser.add_argument(
        "--model", type=Path, action="append", default=[], help="model folder (repeat to compare; default: shipped)"
    )
    args = parser.parse_args(argv)
    flags = ("--min-present", "1") + (("--sampler-steps", str(args.sampler_steps)) if args.sampler_steps else ())
    results: dict = {"gflops_before": matmul_gflops(), "scenarios": {}}
    rows = []
    for model, name, contrasts in [(m, n, c) for m in args.model or [None] for n, c in SCENARIOS.items()]:
        study = _study(args.work, contrasts)
        model_flags = flags + (("-m", str(model)) if model else ())
        totals, rss, stages, dry = [], [], {s: [] for s in STAGES}, []
        for k in range(args.repeats):
            seconds, _, _ = run_app(study, args.work / f"dry-{k}", "--dry-run", "--min-present", "1")
            dry.append(seconds)
            seconds, peak, report = run_app(study, args.work / f"out-{k}", *model_flags)
            if report["outcome"] != "synthesized":
                raise RuntimeError(f"{study}: {report['outcome']}: {report['reason']}")
            totals.append(seconds)
            rss.append(peak)
            for stage in STAGES:
                stages[stage].append(report["timings_s"].get(stage, 0.0))
        entry = {
            "study": contrasts,
            "slices_written": sum(o["instances"] for o in report["outputs"]),
            "total_s": spread(totals),
            "dry_run_s": spread(dry),
            "peak_rss_mb": spread(rss),
            "stages_s": {s: spread(v) for s, v in stages.items()},
            "sampler": report["model"]["sampler"],
            "model": f"{report['model']['name']} {report['model']['version']}",
        }
        entry["total_over_dry_run"] = entry["total_s"]["median"] / entry["dry_run_s"]["median"]
        results["scenarios"][name if len(args.model) < 2 else f"{entry['model']}: {name}"] = entry
        stage_cells = " | ".join(f"{entry['stages_s'][s]['median']:.1f}" for s in STAGES)
        rows.append(
            f"| {entry['model']} ({entry['sampler']}) | {name} | {entry['total_s']['median']:.1f} "
            f"({entry['total_s']['min']:.1f}-"
            f"{entry['total_s']['max']:.1f}) | {entry['total_over_dry_run']:.1f} | {stage_cells} | "
            f"{entry['peak_rss_mb']['median']:.0f} |"
        )
    results["gflops_after"] = matmul_gflops()
    markdown = (
        "# Per-study latency, folder mode (`python -m app`, one process per study)\n\n"
        f"`python -m bench.latency {' '.join(argv if argv is not None else sys.argv[1:])}`; simulated whole-head "
        f"Siemens studies (seed 7). Machine speed in this run: {results['gflops_before']:.0f} GFLOP/s float32 "
        f"matmul before, {results['gflops_after']:.0f} after.\n\n"
        "| model (output) | scenario | total s (median, range) | total / dry run | "
        + " | ".join(STAGES)
        + " | peak RSS MB |\n"
        "|---|---|---|---|" + "---|" * len(STAGES) + "---|\n" + "\n".join(rows) + "\n\n"
        "Stage times are inside the graph; the total adds the process start (Python imports, Holoscan, torch). "
        "The dry run (load, select, identify) of the same study is the reference measured alongside.\n"
    )
    print(write("latency", results, markdown).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
