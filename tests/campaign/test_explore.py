"""The explorer with a fake judge: shrinking minimises canvas and plan together, flakiness
never reaches Hypothesis, and budgets are kept. No cluster needed."""

from __future__ import annotations

import random
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import strategies as st

from chord_chaos.campaign import explore as explore_module
from chord_chaos.campaign.explore import Case, Found, Judge, Signature, case_key, explore
from chord_chaos.models.canvas import Workload, task_ids
from chord_chaos.models.faults import Anchor, FaultPlan
from chord_chaos.scenarios.registry import registry

CASES = registry()["map-reduce"].cases("redis")  # a fixed canvas, plans from every fault kind
GENERATED = registry()["worker-partitioned"].cases("redis")  # generated canvases, partitions


def _kills(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
    """'Fails' whenever a worker is killed: the minimal case is one kill, nothing else."""
    return frozenset({"liveness"}) if any(f.kind == "kill_worker" for f in plan.faults) else None


def _run(judge: Judge, cases: st.SearchStrategy[Case] = CASES, budget: float = 30.0, seed: int = 1,
         database: Path | None = None, n: int = 1) -> list[Found[Case]]:
    found: list[Found[Case]] = []
    explore(cases, seed, lambda: len(found) >= n, judge, found.append, budget, database)
    return found


def test_a_failure_is_shrunk_to_one_minimal_fault() -> None:
    (found,) = _run(_kills)
    (fault,) = found.minimal[1].faults
    assert fault.kind == "kill_worker" and fault.at == 0.0 and fault.target == "@anchor"
    assert fault.anchor == Anchor("start", "header", 1)  # faults land: always at a task's start
    assert found.signature == {"liveness"} and found.candidates > 0
    assert found.blob is not None and "reproduce_failure" in found.blob


def test_canvas_and_plan_shrink_together() -> None:
    def big_and_partitioned(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        return frozenset({"inputs"}) if len(task_ids(workload.canvas)) >= 3 else None

    (found,) = _run(big_and_partitioned, GENERATED, seed=11)
    assert len(task_ids(found.minimal[0].canvas)) == 3  # the smallest canvas that still fails
    assert len(task_ids(found.first[0].canvas)) >= 3


def test_a_flaky_failure_never_ends_in_a_flaky_error() -> None:
    rng = random.Random(3)

    def flaky(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        hit = any(f.kind == "kill_worker" for f in plan.faults) and rng.random() < 0.5
        return frozenset({"liveness"}) if hit else None

    found = _run(flaky, n=2)  # Hypothesis would raise Flaky if a case changed its answer
    assert len(found) == 2 and all(f.minimal[1].faults for f in found)


def test_a_different_failure_does_not_hijack_the_shrink() -> None:
    def two_bugs(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        if any(f.kind == "kill_worker" for f in plan.faults):
            return frozenset({"liveness"})
        return frozenset({"order"}) if shrinking else None

    (found,) = _run(two_bugs)
    assert found.signature == {"liveness"}
    assert any(f.kind == "kill_worker" for f in found.minimal[1].faults)


def test_without_shrink_budget_the_first_failure_is_the_minimal_one() -> None:
    (found,) = _run(_kills, budget=0.0)
    assert case_key(found.minimal) == case_key(found.first) and found.candidates == 0


def test_a_spent_shrink_budget_stops_the_shrinker_with_the_smallest_failure_so_far(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]  # the explorer's clock: each judged case takes 0.1 s of it, a cluster run
    monkeypatch.setattr(explore_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    calls: list[bool] = []

    def slow_kills(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        calls.append(shrinking)
        clock[0] += 0.1
        return _kills(workload, plan, shrinking)

    t = time.perf_counter()
    (found,) = _run(slow_kills, budget=0.35)
    assert time.perf_counter() - t < 60  # not Hypothesis's own five minutes of shrinking
    assert 0 < found.candidates == calls.count(True) <= 4  # stopped once the 0.35 s were spent
    assert _kills(*found.minimal, True)  # a failing case, the smallest judged


def test_the_example_database_replays_a_known_failure_first(tmp_path: Path) -> None:
    (first,) = _run(_kills, database=tmp_path / "db")
    seen: list[str] = []

    def record(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        seen.append(case_key((workload, plan)))
        return _kills(workload, plan, shrinking)

    t = time.monotonic()
    _run(record, database=tmp_path / "db", seed=999)  # another seed: only the database knows it
    assert seen[0] == case_key(first.minimal) and time.monotonic() - t < 30
