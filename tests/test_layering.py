"""Imports follow the layers: the node knows the graph only through its seam, inference no training code.

product   names, atomic files, Outcome, stack size: imports nothing of the project
models    the model library (inference must not import models.training)
operators the graph's stages (may import models and product)
app       the graph's entry points; app/node the DICOM node (may import product, and the graph only
          through app.__main__, called in its worker process)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INFERENCE = ["models/synthesis.py", "models/export.py", "models/build.py", "models/diffusion", "models/networks"]
PROJECT = ("app", "operators", "models", "product", "simulation", "deploy", "bench")


def _files(entry: str) -> list[Path]:
    path = REPO / entry
    return [path] if entry.endswith(".py") else sorted(path.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _offending(entries: list[str], forbidden) -> dict[str, list[str]]:
    found = {}
    for entry in entries:
        for path in _files(entry):
            bad = sorted(m for m in _imports(path) if forbidden(m))
            if bad:
                found[str(path.relative_to(REPO))] = bad
    return found


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_inference_modules_import_nothing_from_training():
    assert sum(len(_files(e)) for e in INFERENCE) > 10
    assert not _offending(INFERENCE, lambda m: _within(m, "models.training"))


def test_the_neutral_package_imports_nothing_of_the_project():
    assert not _offending(["product"], lambda m: _within(m, *PROJECT) and not _within(m, "product"))


def test_the_node_imports_neither_the_operators_nor_the_models():
    assert not _offending(["app/node"], lambda m: _within(m, "operators", "models"))


def test_the_node_reaches_the_application_only_through_the_seam():
    seam = ("app.node", "app.run_options", "app.study_run")
    assert not _offending(["app/node"], lambda m: _within(m, "app") and not _within(m, *seam))


@pytest.mark.parametrize("package", ["product", "operators", "models"])
def test_lower_layers_do_not_import_the_entry_points(package):
    assert not _offending([package], lambda m: _within(m, "app"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (top-level and inside functions; `from a import b` counts a.b
    when b is a module)."""
    modules = {_module_name(p): p for package in packages for p in (REPO / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_circle_between_the_projects_modules():
    graph = _project_graph(("app", "operators", "models", "product"))
    assert "app.study_run" in graph and "app.node.worker" in graph
    circles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles
