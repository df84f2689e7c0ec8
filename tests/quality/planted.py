"""Bugs planted in a copy of the installed Celery, loaded by the client and every worker through
PYTHONPATH: the project's own proof that its gate catches what it claims to."""

from __future__ import annotations

import json
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


BUGS = [
    Planted("body-published-twice", "backends/redis.py",
            "app.amqp._retry_publish(callback.delay, resl)",
            "(app.amqp._retry_publish(callback.delay, resl), app.amqp._retry_publish(callback.delay, resl))",
            "the Redis backend publishes a completed chord's body twice"),
    Planted("header-results-reversed", "backends/redis.py",
            "resl = [unpack(tup, decode) for tup in resl]",
            "resl = [unpack(tup, decode) for tup in resl][::-1]",
            "the Redis backend hands a chord body its header results in reverse order"),
    Planted("header-result-dropped", "backends/redis.py",
            "resl = [unpack(tup, decode) for tup in resl]",
            "resl = [unpack(tup, decode) for tup in resl][1:]",
            "the Redis backend drops a chord's first header result"),
    Planted("errbacks-never-called", "backends/base.py",
            "    def _call_task_errbacks(self, request, exc, traceback):\n",
            "    def _call_task_errbacks(self, request, exc, traceback):\n        return\n",
            "a failed task's errbacks (link_error) are never called"),
    Planted("old-style-errbacks-without-id", "backends/base.py",
            "g.apply_async(\n                    (task_id,),",
            "g.apply_async(\n                    (),",
            "old-style errbacks are called without the failed task's id"),
    Planted("retry-loses-args", "app/task.py",
            "args = request.args if args is None else args",
            "args = () if args is None else args",
            "Task.retry() without args sends the next attempt no arguments"),
    Planted("acks-late-ignored", "worker/request.py",
            "    acks_late = task.acks_late\n",
            "    acks_late = False\n",
            "prefork acknowledges every task on receipt, acks_late or not",
            scenarios=("worker-killed-mid-header",)),
    Planted("reject-on-worker-lost-ignored", "worker/request.py",
            "(self.task.reject_on_worker_lost and is_worker_lost",
            "(False and is_worker_lost",
            "a task whose pool process died is failed, not requeued, despite task_reject_on_worker_lost",
            scenarios=("child-killed-mid-header",)),
    Planted("chord-keys-expire-after-1s", "backends/base.py",
            "    def chord_expires(self):\n",
            "    def chord_expires(self):\n        return 1\n",
            "a chord's Redis keys (and header results) expire after 1 s whatever result_chord_expires says"),
]


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


def as_checkout(root: Path) -> Path:
    """Make a planted copy an installable checkout (what ``--celery PATH`` takes): a pyproject
    with the installed Celery's own version and requirements."""
    from importlib.metadata import requires, version

    reqs = requires("celery") or []
    plain = [r for r in reqs if "extra ==" not in r]
    extras = {name: [r.split(";")[0].strip() for r in reqs if f'extra == "{name}"' in r]
              for name in ("redis", "sqlalchemy")}
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "celery"\nversion = "{version("celery")}"\n'
        f"dependencies = {json.dumps(plain)}\n\n[project.optional-dependencies]\n"
        + "".join(f"{name} = {json.dumps(lines)}\n" for name, lines in extras.items())
        + '\n[tool.setuptools.packages.find]\ninclude = ["celery*"]\n', encoding="utf-8")
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
