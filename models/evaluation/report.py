"""Evaluation rows to summary statistics, JSON and a markdown table."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

METRICS = ("psnr", "ssim", "mae")
BOOTSTRAP_RESAMPLES = 2000


def bootstrap_interval(values: list[float], seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over subjects (resampling subjects with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_differences(rows: list[dict], method: str, reference: str, metric: str = "psnr") -> list[dict]:
    """Per (scenario, target): mean of `method` minus `reference` over the subjects both were scored on, with a
    paired bootstrap interval (subjects resampled together, so a hard subject counts against both)."""
    by_key: dict[tuple, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row["method"] in (method, reference):
            by_key[(row["scenario"], row["target"])][row["subject"]][row["method"]] = row[metric]
    out = []
    for (scenario, target), subjects in by_key.items():
        differences = [v[method] - v[reference] for v in subjects.values() if method in v and reference in v]
        if not differences:
            continue
        low, high = bootstrap_interval(differences)
        out.append(
            {
                "scenario": scenario,
                "target": target,
                "difference": float(np.mean(differences)),
                "low": low,
                "high": high,
                "subjects": len(differences),
            }
        )
    return out


def paired_table(rows: list[dict], method: str, references: list[str], metric: str = "psnr") -> str:
    """Markdown: `method` minus each reference per row, mean [95 % paired bootstrap interval]."""
    tables = {
        r: {(d["scenario"], d["target"]): d for d in paired_differences(rows, method, r, metric)} for r in references
    }
    keys = list(dict.fromkeys(k for t in tables.values() for k in t))
    lines = [
        "| scenario | target | " + " | ".join(f"{method} - {r} ({metric})" for r in references) + " |",
        "|" + "---|" * (2 + len(references)),
    ]
    for scenario, target in keys:
        cells = []
        for reference in references:
            d = tables[reference].get((scenario, target))
            cells.append(f"{d['difference']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]" if d else "n/a")
        lines.append(f"| {scenario} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
            "paper_psnr",
            "paper_ssim",
            "lesion_psnr",
            "lesion_ssim",
        ):
            values = [r[key] for r in items if r.get(key) is not None]
            if values:
                entry[key] = float(np.mean(values))
                entry[f"{key}_sd"] = float(np.std(values))
                if key in METRICS:
                    entry[f"{key}_ci"] = bootstrap_interval(values)
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


def paper_table(summary: list[dict], methods: list[str]) -> str:
    """PSNR / SSIM as papers report them (skull-stripped, min-max, whole slices), for published tables only."""
    rows: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for entry in summary:
        rows[(entry["scenario"], entry["target"])][entry["method"]] = entry
    lines = [
        "| scenario | target | " + " | ".join(methods) + " |",
        "|" + "---|" * (2 + len(methods)),
    ]
    for (scenario, target), by_method in rows.items():
        cells = [
            f"{by_method[m]['paper_psnr']:.2f} / {by_method[m]['paper_ssim']:.4f}"
            if m in by_method and "paper_psnr" in by_method[m]
            else "n/a"
            for m in methods
        ]
        lines.append(f"| {scenario} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
