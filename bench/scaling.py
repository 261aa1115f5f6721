"""Scaling: synthesis time and peak memory against the number of slices and of missing contrasts.

    python -m bench.scaling [--repeats 2]

The seed-3 test subject is simulated once (whole head, 1 mm) and saved;
each point is then a fresh process (`python -m bench.scaling --point SLICES
MISSING --subject FILE`) that loads the shipped model and that subject,
synthesizes its missing contrasts on the central SLICES slices of the model
grid with the default sampler, and reports the synthesis seconds and the
process's peak RSS. The table shows seconds per slice, which is flat when
cost grows linearly with slices. The missing-contrast count changes little:
all four contrasts' latents are denoised together, only encoding (present
contrasts) and decoding (missing ones) follow the count. The last column is
how far synthesis raised the process's memory above what it held before
(the model, the volumes on the model grid), measured with the kernel's
peak counter (VmHWM) reset just before synthesis.
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

from bench.common import current_rss_mb, peak_rss_mb, reset_peak_rss, spread, write

REPO = Path(__file__).resolve().parents[1]
SLICES = (16, 32, 64, 128)
PRESENT = {1: ("t1", "t1ce", "t2"), 2: ("t1", "t2"), 3: ("flair",)}
ALL = ("t1", "t1ce", "t2", "flair")


def save_subject(path: Path) -> None:
    """The seed-3 test subject's clean volumes and affine, simulated once for every point."""
    import numpy as np

    from simulation.subject import sample_subject, simulate_subject

    subject = simulate_subject(sample_subject(np.random.default_rng(3), kind="glioma", whole_head=True))
    np.savez(path, affine=subject.affine, **{c: subject.clean[c] for c in ALL})


def point(slices: int, missing_count: int, subject_file: Path) -> dict:
    """One measurement in this process (run in a fresh one by `main`)."""
    import numpy as np

    from models.data.preprocessing import to_model_grid
    from models.evaluate import central_slab
    from models.synthesis import Synthesizer

    synthesizer = Synthesizer.load(REPO / "models" / "default", device="cpu")
    present = PRESENT[missing_count]
    with np.load(subject_file) as subject:
        volumes, affine = {c: subject[c] for c in present}, subject["affine"]
    grid = central_slab(to_model_grid(volumes, affine, synthesizer.config.data), slices)
    del volumes
    missing = [c for c in ALL if c not in present]
    loaded = peak_rss_mb()
    before = current_rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    synthesizer.synthesize_grid(grid, missing, seed=0)
    seconds = time.perf_counter() - start
    synthesis_peak = peak_rss_mb()
    return {
        "slices": len(grid.slice_indices(1e-6)),
        "missing": missing,
        "seconds": seconds,
        "peak_rss_mb": max(loaded, synthesis_peak),
        "rss_before_synthesis_mb": before,
        "synthesis_peak_rss_mb": synthesis_peak,
    }


def measure(slices: int, missing_count: int, subject_file: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "bench.scaling",
        "--point",
        str(slices),
        str(missing_count),
        "--subject",
        str(subject_file),
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--point", nargs=2, type=int, metavar=("SLICES", "MISSING"), help=argparse.SUPPRESS)
    parser.add_argument("--subject", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(point(*args.point, args.subject)))
        return 0
    grid = [(s, 1) for s in SLICES] + [(64, 2), (64, 3)]
    points = []
    with tempfile.TemporaryDirectory() as scratch:
        subject_file = Path(scratch) / "subject.npz"
        save_subject(subject_file)
        runs_per_point = [[measure(s, m, subject_file) for _ in range(args.repeats)] for s, m in grid]
    for runs in runs_per_point:
        seconds = spread([r["seconds"] for r in runs])
        points.append(
            {
                "slices": runs[0]["slices"],
                "missing": runs[0]["missing"],
                "seconds": seconds,
                "seconds_per_slice": seconds["median"] / runs[0]["slices"],
                "peak_rss_mb": spread([r["peak_rss_mb"] for r in runs]),
                "synthesis_peak_rss_mb": spread([r["synthesis_peak_rss_mb"] for r in runs]),
                "synthesis_rss_growth_mb": spread(
                    [r["synthesis_peak_rss_mb"] - r["rss_before_synthesis_mb"] for r in runs]
                ),
            }
        )
    first = points[0]["seconds_per_slice"]
    lines = [
        "# Scaling of synthesis with slices and missing contrasts (shipped model, default sampler, CPU)",
        "",
        f"Each point: a fresh process loading the model and the seed-3 test subject (simulated once), its "
        f"central slices on the model grid; median of {args.repeats}. "
        f"Made by `python -m bench.scaling --repeats {args.repeats}`.",
        "",
        "Synthesis runs the slices in batches of the sampler's batch size (32 for the shipped model): time grows "
        "with the number of batches, while the memory synthesis adds is bounded by one batch's activations and "
        "the contrasts it decodes, not proportional to the slice count. The process's peak is set as much by "
        "loading and resampling the volumes as by synthesis.",
        "",
        "| slices | missing | seconds (min-max) | s per slice | per slice vs 16 slices | peak RSS MB "
        "| growth during synthesis MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        s = p["seconds"]
        lines.append(
            f"| {p['slices']} | {', '.join(p['missing'])} | {s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f}) "
            f"| {p['seconds_per_slice']:.2f} | {p['seconds_per_slice'] / first:.2f} | "
            f"{p['peak_rss_mb']['median']:.0f} | {p['synthesis_rss_growth_mb']['median']:.0f} |"
        )
    path = write("scaling", {"points": points}, "\n".join(lines) + "\n")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
