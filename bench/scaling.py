"""Scaling: synthesis time and peak memory against the number of slices and of missing contrasts.

    python -m bench.scaling [--repeats 2]

Each point is a fresh process (`python -m bench.scaling --point SLICES MISSING`)
that loads the shipped model, synthesizes the missing contrasts of the seed-3
test subject on its central SLICES slices of the model grid with the default
sampler, and reports the synthesis seconds and the process's peak RSS. The
table shows seconds per slice, which is flat when cost grows linearly with
slices; the missing-contrast count changes little (all four contrasts'
latents are denoised together; only encoding and decoding follow the
count). Peak RSS is the process's (simulating the subject at 1 mm peaks
first); the last column is how far synthesis raised it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import spread, write

REPO = Path(__file__).resolve().parents[1]
SLICES = (16, 32, 64, 128)
PRESENT = {1: ("t1", "t1ce", "t2"), 2: ("t1", "t2"), 3: ("flair",)}
ALL = ("t1", "t1ce", "t2", "flair")


def point(slices: int, missing_count: int) -> dict:
    """One measurement in this process (run in a fresh one by `main`)."""
    import numpy as np

    from models.data.preprocessing import to_model_grid
    from models.evaluate import central_slab
    from models.synthesis import Synthesizer
    from simulation.subject import sample_subject, simulate_subject

    synthesizer = Synthesizer.load(REPO / "models" / "default", device="cpu")
    subject = simulate_subject(sample_subject(np.random.default_rng(3), kind="glioma", whole_head=True))
    present = PRESENT[missing_count]
    grid = to_model_grid({c: subject.clean[c] for c in present}, subject.affine, synthesizer.config.data)
    grid = central_slab(grid, slices)
    missing = [c for c in ALL if c not in present]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # simulating the subject peaks first
    start = time.perf_counter()
    synthesizer.synthesize_grid(grid, missing, seed=0)
    seconds = time.perf_counter() - start
    return {
        "slices": len(grid.slice_indices(1e-6)),
        "missing": missing,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_before_synthesis_mb": before,
    }


def measure(slices: int, missing_count: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bench.scaling", "--point", str(slices), str(missing_count)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--point", nargs=2, type=int, metavar=("SLICES", "MISSING"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(point(*args.point)))
        return 0
    grid = [(s, 1) for s in SLICES] + [(64, 2), (64, 3)]
    points = []
    for slices, missing_count in grid:
        runs = [measure(slices, missing_count) for _ in range(args.repeats)]
        seconds = spread([r["seconds"] for r in runs])
        points.append({
            "slices": runs[0]["slices"], "missing": runs[0]["missing"], "seconds": seconds,
            "seconds_per_slice": seconds["median"] / runs[0]["slices"],
            "peak_rss_mb": spread([r["peak_rss_mb"] for r in runs]),
            "synthesis_rss_growth_mb": spread([r["peak_rss_mb"] - r["peak_before_synthesis_mb"] for r in runs]),
        })  # fmt: skip
    first = points[0]["seconds_per_slice"]
    lines = [
        "# Scaling of synthesis with slices and missing contrasts (shipped model, default sampler, CPU)",
        "",
        f"Each point: a fresh process, the seed-3 test subject's central slices on the model grid; median of "
        f"{args.repeats}. Made by `python -m bench.scaling --repeats {args.repeats}`.",
        "",
        "| slices | missing | seconds (min-max) | s per slice | per slice vs 16 slices | peak RSS MB "
        "| peak growth during synthesis MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        s = p["seconds"]
        lines.append(f"| {p['slices']} | {', '.join(p['missing'])} | {s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f}) "
                     f"| {p['seconds_per_slice']:.2f} | {p['seconds_per_slice'] / first:.2f} | "
                     f"{p['peak_rss_mb']['median']:.0f} | {p['synthesis_rss_growth_mb']['median']:.0f} |")  # fmt: skip
    path = write("scaling", {"points": points}, "\n".join(lines) + "\n")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
