"""Imports point one way: models <- harness. The model is pure: no Celery, no I/O, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chord_chaos"
FORBIDDEN_IN_MODELS = {"celery", "kombu", "redis", "sqlalchemy", "billiard", "psutil", "socket",
                       "subprocess", "time", "os", "random", "chord_chaos.harness",
                       "chord_chaos.cli", "chord_chaos.bench"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "models").glob("*.py")), ids=lambda p: p.name)
def test_models_import_nothing_impure(path: Path) -> None:
    bad = {n for n in _imports(path)
           if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_MODELS)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
