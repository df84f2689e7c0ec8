"""Imports point one way, so that a package's name says what it may touch:

models <- check <- harness (infra, worker <- cluster <- run) <- report <- export, campaign <- cli;
harness.infra <- target (the Celery under test) <- campaign, cli;
scenarios (pure data over models) <- campaign. ``models`` and ``check`` are pure: no Celery,
no I/O, no clock, so ``chord-chaos analyze`` re-checks a history without a cluster. Code that
runs inside a ``celery worker`` (``harness.worker``) imports only the model and itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chord_chaos"
IMPURE = {"celery", "kombu", "redis", "sqlalchemy", "billiard", "psutil", "socket", "subprocess",
          "time", "os", "random", "requests", "docker", "toxiproxy", "shutil"}
FIRST_PARTY = ("models", "check", "scenarios", "harness.infra", "harness.worker", "harness.cluster",
               "harness.run", "report", "export", "target", "campaign", "cli")
# package -> the first-party packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "check": {"models"},
    "scenarios": {"models"},
    "harness.infra": set(),
    "harness.worker": {"models"},
    "harness.cluster": {"models", "harness.infra", "harness.worker"},
    "harness.run": {"models", "check", "harness.infra", "harness.worker", "harness.cluster"},
    "report": {"models", "check", "harness.infra"},
    "export": {"models", "check", "harness.infra", "report"},  # writes plain Celery, imports none
    "target": {"models", "harness.infra"},  # runs before any Celery is imported
    "campaign": {"models", "check", "scenarios", "harness.infra", "harness.cluster", "harness.run",
                 "report", "target"},
    "cli": set(FIRST_PARTY),
}
PURE = ("models", "check")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _package_of(module: str) -> str | None:
    """``chord_chaos.harness.run.batch`` -> ``harness.run``; None for a third-party module."""
    if not module.startswith("chord_chaos."):
        return None
    rest = module.removeprefix("chord_chaos.")
    return next((p for p in FIRST_PARTY if rest == p or rest.startswith(p + ".")), rest)


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in FIRST_PARTY
            for path in sorted((PACKAGE / pkg.replace(".", "/")).glob("*.py"))]


@pytest.mark.parametrize(("package", "path"), _modules(),
                         ids=[f"{p}/{f.name}" for p, f in _modules()])
def test_imports_point_one_way(package: str, path: Path) -> None:
    used = {p for p in map(_package_of, _imports(path)) if p is not None} - {package}
    assert used <= ALLOWED[package], f"{package}/{path.name} imports {sorted(used - ALLOWED[package])}"


@pytest.mark.parametrize(("package", "path"), [m for m in _modules() if m[0] in PURE],
                         ids=[f"{p}/{f.name}" for p, f in _modules() if p in PURE])
def test_the_model_and_the_checks_are_pure(package: str, path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in IMPURE}
    assert not bad, f"{package}/{path.name} imports {sorted(bad)}"


def test_every_module_is_in_a_package_with_a_docstring() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside the packages: {loose}"
    for pkg in FIRST_PARTY:
        init = PACKAGE / pkg.replace(".", "/") / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{pkg} has no docstring saying what it holds"


@pytest.mark.parametrize("path", sorted((PACKAGE / "export").glob("*.py")), ids=lambda p: p.name)
def test_the_exporter_imports_no_celery(path: Path) -> None:
    """It writes code for another machine's Celery: the one installed here must not leak in."""
    bad = {n for n in _imports(path) if n.split(".")[0] in {"celery", "kombu", "redis"}}
    assert not bad, f"export/{path.name} imports {sorted(bad)}"
