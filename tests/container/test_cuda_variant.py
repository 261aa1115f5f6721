"""The CUDA image variant cannot be built here (no GPU, several GB of CUDA wheels), but its dependency set can be
resolved against PyPI the way its build resolves it: torch from PyPI with CUDA libraries matching holoscan-cu13."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.container.conftest import REPO


def test_the_cuda_variant_resolves_to_pypi_torch_built_for_cuda_13(tmp_path):
    report = tmp_path / "report.json"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}  # no local wheel folder: what a GPU build host sees
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "-r",
            "container/requirements.txt",
            "-c",
            "constraints.txt",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installed = json.loads(report.read_text())["install"]
    versions = {item["metadata"]["name"]: item["metadata"]["version"] for item in installed}
    assert versions["torch"] == "2.13.0", "the CUDA build (no +cpu)"
    assert versions["nvidia-cuda-runtime"].startswith("13.")
    assert any(name.startswith("nvidia-cudnn") for name in versions), "torch's CUDA libraries come with it"
