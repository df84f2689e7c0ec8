"""Bugs planted in a copy of Celery are caught at a fixed seed within a stated budget.

Each case plants one bug, runs ``fuzz`` (no faults) or, for a bug only a fault can show,
``chaos`` over the scenarios that aim at it, with the copy on PYTHONPATH for the client and
every worker, and expects a violation: the kill table of ``make quality``, with the time to
first detection. On the unmodified Celery the same commands pass (``make gate``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.quality.planted import Planted, hunt, plant

pytestmark = pytest.mark.cluster

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


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_a_planted_bug_is_caught_at_a_fixed_seed(bug: Planted, tmp_path: Path) -> None:
    copy = plant(bug, tmp_path)
    t = time.monotonic()
    done = hunt(bug, copy, tmp_path / "reports")
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text(encoding="utf-8"))
    violations = [f for f in summary["failures"] if f["verdict"] == "violation"]
    first = min((f.get("found_after", 0.0) for f in violations), default=None)
    by = f"chaos {'/'.join(bug.scenarios)}" if bug.scenarios else "fuzz"
    print(f"\nkill table: {bug.name}: {'caught' if violations else 'SURVIVED'} by {by} "
          f"(budget {bug.budget:.0f} s, ran {time.monotonic() - t:.0f} s)"
          f"{f', first violation after {first:.0f} s' if first is not None else ''}: {bug.why}")
    assert done.returncode == 1, f"{bug.name} survived:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert violations and first is not None and first <= bug.budget, summary["failures"]
