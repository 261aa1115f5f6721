"""Quality for speed: PSNR/SSIM/MAE of the shipped model's samplers against the 1000-step DDPM reference.

    python -m bench.quality_speed [--data DATA] [--subjects 2] [--slices 4]

Runs `python -m models.evaluate` once with every sampler the model offers
(DDPM 1000; DDIM 50/20/10; DDIM 20 with shared noise and without replacement; DDIM 100/50/20 with
eta 1, the DDPM's ancestral sampling on a shorter schedule) on held-out subjects,
each scenario with one missing contrast, on the central slices only (the
reference costs 1000 network passes per slice: the whole volume would take
hours on two cores; the slice count is in the results). Sampling seconds come
from the same run, so speedups are ratios measured side by side. A sampler
"keeps quality" when its mean PSNR is within 0.5 dB and its SSIM within 0.005
of the reference's. Without --data the held-out subjects of the shipped model's split are simulated again
(the training set's recipe: 40 whole-head subjects, seed 2026; only the ones needed are written). The
simulator has changed a little since the training set was made (T2 intensities differ by about 2.5%), so
give the original set with --data where it exists.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import spread, write

REPO = Path(__file__).resolve().parents[1]
SAMPLERS = ",".join(
    [  # explicit noise options: the labels stay the same whatever the model's default sampler is
        "ddpm:1000",
        "ddim:50:independent:eta0",
        "ddim:20:independent:eta0",
        "ddim:10:independent:eta0",
        "ddim:20:shared:eta0",
        "ddim:20:independent:noreplace:eta0",
        "ddim:100:independent:eta1",
        "ddim:50:independent:eta1",
        "ddim:20:independent:eta1",
    ]
)
REFERENCE = "msgldm-ddpm1000"
SCENARIOS = "t1;t1ce;t2;flair"  # one missing contrast at a time
PSNR_TOLERANCE_DB, SSIM_TOLERANCE = 0.5, 0.005


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per method: mean PSNR/SSIM/MAE over subjects and scenarios, total sampling seconds, striping."""
    methods: dict[str, dict] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        methods[method] = {
            "psnr": statistics.mean(r["psnr"] for r in mine),
            "ssim": statistics.mean(r["ssim"] for r in mine),
            "mae": statistics.mean(r["mae"] for r in mine),
            "gradient_energy_ratio": statistics.mean(r["gradient_energy_ratio"] for r in mine),
            "seconds": sum(r["seconds"] for r in mine),
            "rows": len(mine),
        }
    reference = methods[REFERENCE]
    by_case = {(r["subject"], r["scenario"]): r for r in rows if r["method"] == REFERENCE}
    for method, values in methods.items():
        paired = [(r, by_case[r["subject"], r["scenario"]]) for r in rows if r["method"] == method]
        values["psnr_minus_reference"] = spread([r["psnr"] - ref["psnr"] for r, ref in paired])
        values["ssim_minus_reference"] = spread([r["ssim"] - ref["ssim"] for r, ref in paired])
        values["speedup_per_case"] = spread([ref["seconds"] / r["seconds"] for r, ref in paired])
        values["speedup"] = reference["seconds"] / values["seconds"]
        close_psnr = values["psnr"] >= reference["psnr"] - PSNR_TOLERANCE_DB
        values["keeps_quality"] = close_psnr and values["ssim"] >= reference["ssim"] - SSIM_TOLERANCE
    return methods


def markdown(methods: dict[str, dict], setup: dict) -> str:
    lines = [
        f"Shipped model {setup['model']}, {setup['subjects']} held-out subject(s) x {setup['slices']} central slices, "
        f"scenarios with one missing contrast ({setup['scenarios']}); made by `{setup['command']}`.",
        "",
        "Means over the subject x scenario cases; the paired columns give, per case, the sampler minus the "
        "reference (same subject, scenario and slices) as median (min-max) over the cases, and the speedup as "
        "total sampling time (median (min-max) of the per-case ratios).",
        "",
        "| sampler | PSNR (dB) | SSIM | MAE | PSNR - reference | SSIM - reference | gradient energy ratio "
        "| sampling s | speedup vs DDPM 1000 | within 0.5 dB / 0.005 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def paired(values: dict, digits: int) -> str:
        return f"{values['median']:+.{digits}f} ({values['min']:+.{digits}f} to {values['max']:+.{digits}f})"

    for method, v in methods.items():
        per_case = v["speedup_per_case"]
        lines.append(
            f"| {method} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['mae']:.4f} | {paired(v['psnr_minus_reference'], 2)} "
            f"| {paired(v['ssim_minus_reference'], 3)} | {v['gradient_energy_ratio']:.1f} | {v['seconds']:.0f} | "
            f"{v['speedup']:.1f}x ({per_case['min']:.0f}-{per_case['max']:.0f}x) | "
            f"{'yes' if v['keeps_quality'] else 'no'} |"
        )
    keeping = [m for m, v in methods.items() if v["keeps_quality"] and m != REFERENCE]
    best = max(keeping, key=lambda m: methods[m]["speedup"], default=None)
    lines += [
        "",
        (
            f"Fastest sampler within tolerance: {best}, {methods[best]['speedup']:.1f}x faster than the reference."
            if best
            else "No fast sampler stays within 0.5 dB PSNR and 0.005 SSIM of the reference."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="simulated data set (brats layout); default: simulate it")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--slices", type=int, default=4)
    args = parser.parse_args(argv)
    split = args.model / "training" / "split.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            data = Path(scratch) / "data"
            held_out = json.loads(split.read_text())["test"][: args.subjects]
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "simulation",
                    "brats",
                    "--out",
                    str(data),
                    "--subjects",
                    "40",
                    "--seed",
                    "2026",
                    "--whole-head",
                    "--only",
                    ",".join(held_out),
                ],
                cwd=REPO,
                env=env,
                check=True,
            )
        out = Path(scratch) / "eval"
        command = [
            sys.executable,
            "-m",
            "models.evaluate",
            "--model",
            str(args.model),
            "--data",
            str(data),
            "--split",
            str(split),
            "--out",
            str(out),
            "--samplers",
            SAMPLERS,
            "--scenarios",
            SCENARIOS,
            "--baselines",
            "",
            "--max-subjects",
            str(args.subjects),
            "--max-slices",
            str(args.slices),
        ]
        subprocess.run(command, cwd=REPO, env=env, check=True)
        report = json.loads((out / "evaluation.json").read_text())
    methods = summarize(report["rows"])
    shown = "python -m bench.quality_speed"
    setup = {
        "model": f"{report['model']['name']} {report['model']['version']}",
        "subjects": len(report["data"]["subjects"]),
        "slices": args.slices,
        "scenarios": SCENARIOS.replace(";", ", "),
        "command": f"{shown} --subjects {args.subjects} --slices {args.slices}",
    }
    results = {"setup": setup, "data": report["data"], "methods": methods, "rows": report["rows"]}
    path = write("quality_speed", results, markdown(methods, setup))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
