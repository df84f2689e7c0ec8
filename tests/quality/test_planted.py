"""The fixed-seed gate catches bugs planted in a copy of Celery: chaos that lands, slow work.

Each case plants one bug, runs the gate's own campaign (seed 0, the Makefile's scenarios) with the
copy on PYTHONPATH for the client and every worker, and expects a violation: the kill table of
``make quality``. On the unmodified Celery the same campaign is ``make gate``, which passes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.quality.planted import Planted, gate_budget, gate_scenarios, plant, run_gate

pytestmark = pytest.mark.cluster

BUDGET = gate_budget()

BUGS = [
    Planted("reject-on-worker-lost-ignored", "worker/request.py",
            "(self.task.reject_on_worker_lost and is_worker_lost",
            "(False and is_worker_lost",
            "a task whose pool process died is failed, not requeued, despite task_reject_on_worker_lost"),
    Planted("chord-keys-expire-after-1s", "backends/base.py",
            "    def chord_expires(self):\n",
            "    def chord_expires(self):\n        return 1\n",
            "a chord's Redis keys (and header results) expire after 1 s whatever result_chord_expires says"),
]


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_the_fixed_seed_gate_catches_a_planted_bug(bug: Planted, tmp_path: Path) -> None:
    copy = plant(bug, tmp_path)
    t = time.monotonic()
    done = run_gate(copy, tmp_path / "reports", BUDGET, gate_scenarios(), timeout=BUDGET + 300)
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text(encoding="utf-8"))
    violations = [f for f in summary["failures"] if f["verdict"] == "violation"]
    first = min((f.get("found_after", 0.0) for f in violations), default=None)
    print(f"\nkill table: {bug.name}: {'caught' if violations else 'SURVIVED'} in "
          f"{time.monotonic() - t:.0f} s ({bug.why}); first violation: "
          f"{violations[0]['scenario'] + '/' + violations[0]['backend'] if violations else '-'}"
          f"{f', after {first:.0f} s' if first else ''}")
    assert done.returncode == 1, f"{bug.name} survived:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert violations, summary["failures"]
