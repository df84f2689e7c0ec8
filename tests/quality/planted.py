"""Bugs planted in a copy of the installed Celery, loaded by the client and every worker through
PYTHONPATH: the project's own proof that its gate catches what it claims to."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import celery

from tests.helpers import REPO_ROOT


@dataclass(frozen=True)
class Planted:
    name: str
    path: str  # inside the celery package
    old: str  # must occur exactly once
    new: str
    why: str


def plant(bug: Planted, into: Path) -> Path:
    """A copy of the installed Celery with ``bug`` in it; returns the PYTHONPATH entry."""
    source = Path(celery.__file__).parent
    root = into / f"celery-{bug.name}"
    shutil.copytree(source, root / "celery", ignore=shutil.ignore_patterns("__pycache__"))
    target = root / "celery" / bug.path
    text = target.read_text(encoding="utf-8")
    assert text.count(bug.old) == 1, f"{bug.name}: the line to change is not in {bug.path} once"
    target.write_text(text.replace(bug.old, bug.new), encoding="utf-8")
    return root


def _makefile(name: str) -> str:
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name}\s*[?:]?=\s*(.+)$", text, re.MULTILINE)
    assert match, f"{name} not found in the Makefile"
    return match.group(1)


def gate_scenarios() -> list[str]:
    """GATE_SCENARIOS of the Makefile: the tier runs the very gate that CI runs."""
    return _makefile("GATE_SCENARIOS").split()


def gate_budget() -> float:
    return float(_makefile("GATE_BUDGET"))


def run_gate(pythonpath: Path, report_dir: Path, budget: float, scenarios: list[str],
             timeout: float) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "chord_chaos.cli.main", "chaos", "--seed", "0", "--budget", str(budget),
            "--database", "none", "--shrink-budget", "20", "--fail-on", "violation",
            "--report-dir", str(report_dir)]
    for s in scenarios:
        argv += ["--scenario", s]
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "CC_PLAIN_PROGRESS": "1"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)
