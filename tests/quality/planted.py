"""Bugs planted in a copy of the installed Celery, loaded by the client and every worker through
PYTHONPATH: the project's own proof that its gate catches what it claims to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import celery

from tests.helpers import REPO_ROOT


@dataclass(frozen=True)
class Planted:
    """One bug: ``old`` replaced by ``new`` in the copy's ``path``; ``scenarios`` empty means
    ``fuzz`` must catch it (no faults), otherwise ``chaos`` over those scenarios (a fault-only
    bug), within ``budget`` seconds at seed 0."""

    name: str
    path: str  # inside the celery package
    old: str  # must occur exactly once
    new: str
    why: str
    scenarios: tuple[str, ...] = ()
    budget: float = 60.0


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


def hunt(bug: Planted, pythonpath: Path, report_dir: Path) -> subprocess.CompletedProcess[str]:
    """The fixed-seed command that must catch ``bug``, with the copy on PYTHONPATH for the client
    and every worker: ``fuzz`` on Redis, or ``chaos`` over the bug's scenarios."""
    common = ["--seed", "0", "--budget", str(bug.budget), "--database", "none", "--shrink-budget", "0",
              "--report-dir", str(report_dir)]
    if bug.scenarios:
        argv = ["chaos", *common, "--fail-on", "violation"]
        for s in bug.scenarios:
            argv += ["--scenario", s]
    else:
        argv = ["fuzz", *common, "--backend", "redis"]
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "CC_PLAIN_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "chord_chaos.cli.main", *argv], env=env,
                          capture_output=True, text=True, timeout=bug.budget + 300, cwd=REPO_ROOT)
