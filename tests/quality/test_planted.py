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

from tests.quality.planted import BUGS, Planted, hunt, plant

pytestmark = pytest.mark.cluster


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
