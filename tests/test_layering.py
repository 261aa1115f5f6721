"""Inference code imports no training code: a deployed node runs the model without the training stack."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFERENCE = ["models/synthesis.py", "models/export.py", "models/build.py", "models/diffusion", "models/networks"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_inference_modules_import_nothing_from_training():
    files = [
        p for entry in INFERENCE for p in ([REPO / entry] if entry.endswith(".py") else (REPO / entry).glob("*.py"))
    ]
    assert len(files) > 10
    offending = {str(p.relative_to(REPO)): sorted(m for m in _imports(p) if m.startswith("models.training"))
                 for p in files}  # fmt: skip
    assert not {p: m for p, m in offending.items() if m}
