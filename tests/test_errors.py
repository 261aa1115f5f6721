"""Every error class of the product derives from one root, and from the built-in exception it refines."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from product.errors import ProductError

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "operators", "models", "product")


def _error_classes() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found += [(module, n.name) for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Error")]
    return found


def test_every_error_class_has_the_products_root_and_a_builtin_one():
    classes = _error_classes()
    assert len(classes) >= 10
    for module, name in classes:
        error = getattr(importlib.import_module(module), name)
        assert issubclass(error, ProductError), f"{module}.{name}"
        if error is not ProductError:
            generic = (Exception, BaseException, object)
            builtin = [b for b in error.__mro__ if b.__module__ == "builtins" and b not in generic]
            assert builtin, f"{module}.{name} refines no built-in exception (ValueError, OSError, RuntimeError...)"
