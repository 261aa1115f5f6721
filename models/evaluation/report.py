"""Evaluation rows to summary statistics, JSON and a markdown table."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

METRICS = ("psnr", "ssim", "mae")


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation per (method, scenario, target) over subjects."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["method"], row["scenario"], row["target"])].append(row)
    summary = []
    for (method, scenario, target), items in groups.items():
        entry = {"method": method, "scenario": scenario, "target": target, "subjects": len(items)}
        for key in (
            *METRICS,
            "ssim_sagittal",
            "ssim_coronal",
            "gradient_energy_ratio",
            "high_frequency_ratio",
            "lesion_psnr",
            "lesion_ssim",
        ):
            values = [r[key] for r in items if r.get(key) is not None]
            if values:
                entry[key] = float(np.mean(values))
                entry[f"{key}_sd"] = float(np.std(values))
        summary.append(entry)
    return summary


def markdown_table(summary: list[dict], methods: list[str]) -> str:
    """One row per (scenario, target), PSNR / SSIM / MAE per method; the best PSNR of a row in bold."""
    rows: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for entry in summary:
        rows[(entry["scenario"], entry["target"])][entry["method"]] = entry
    header = (
        "| scenario (present -> missing) | target | " + " | ".join(f"{m} PSNR / SSIM / MAE" for m in methods) + " |"
    )
    lines = [header, "|" + "---|" * (2 + len(methods))]
    for (scenario, target), by_method in rows.items():
        best = max((e["psnr"] for e in by_method.values()), default=None)
        cells = []
        for method in methods:
            e = by_method.get(method)
            if e is None:
                cells.append("n/a")
                continue
            psnr = f"{e['psnr']:.2f}"
            if best is not None and e["psnr"] == best and len(by_method) > 1:
                psnr = f"**{psnr}**"
            cells.append(f"{psnr} / {e['ssim']:.4f} / {e['mae']:.4f}")
        lines.append(f"| {scenario} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reformat_table(summary: list[dict], methods: list[str]) -> str:
    """Striping across slices: sagittal / coronal SSIM and through-plane gradient energy ratio, averaged."""
    lines = [
        "| method | SSIM sagittal | SSIM coronal | gradient energy ratio (1 = truth) | in-plane high-frequency "
        "power ratio (1 = truth) |",
        "|---|---|---|---|---|",
    ]
    for method in methods:
        items = [e for e in summary if e["method"] == method and "ssim_sagittal" in e]
        if items:
            high = [e["high_frequency_ratio"] for e in items if "high_frequency_ratio" in e]
            lines.append(
                f"| {method} | {np.mean([e['ssim_sagittal'] for e in items]):.4f} | "
                f"{np.mean([e['ssim_coronal'] for e in items]):.4f} | "
                f"{np.mean([e['gradient_energy_ratio'] for e in items]):.3f} | "
                + (f"{np.mean(high):.3f} |" if high else "n/a |")
            )
    return "\n".join(lines)
