"""What every benchmark shares: the machine it ran on, repeats with median and spread, JSON + markdown output."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """CPU model, cores, memory and the software that matters, for the results' header."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "avx512": "avx512f" in flags,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
    }


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def spread(values: list[float]) -> dict:
    """Median, min and max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def write(name: str, results: dict, markdown: str) -> Path:
    """bench/results/<name>.json and .md (the markdown opens with the machine)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = results.setdefault("machine", machine())
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    header = (
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}, "
        f"commit {info['commit']}, {info['date']}. Shared machine: compare ratios measured in the same run.\n\n"
    )
    path = RESULTS / f"{name}.md"
    path.write_text(header + markdown)
    return path


def simulated_study(out: Path, seed: int, contrasts: str) -> Path:
    """A simulated Siemens DICOM study with these contrasts in `out` (made once; reused by later runs)."""
    if not out.exists():
        repo = Path(__file__).resolve().parents[1]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "simulation",
                "study",
                "--out",
                str(out),
                "--seed",
                str(seed),
                "--vendor",
                "siemens",
                "--contrasts",
                contrasts,
            ],
            check=True,
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
            capture_output=True,
        )
    return out


# Linux copies a parent's peak RSS into a child at fork (it survives exec), so wait4's ru_maxrss of a child
# forked from a big benchmark process reports the parent's peak. A small launcher in between starts from its
# own small peak and hands the child's real one back.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_with_peak_rss(command: list[str], **popen: object) -> tuple[int, float]:
    """Run `command`; (exit code, its peak RSS in MB), measured through a small launcher process."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        process = subprocess.run([sys.executable, "-c", _LAUNCHER, report.name, *command], **popen)
        peak_kb = report.read().strip()
    return process.returncode, int(peak_kb) / 1024 if peak_kb else float("nan")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM), which `reset_peak_rss` can start again."""
    return _status_mb("VmHWM")


def current_rss_mb() -> float:
    return _status_mb("VmRSS")


def reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS (Linux: writing 5 to clear_refs), to measure one step's peak."""
    Path("/proc/self/clear_refs").write_text("5")
