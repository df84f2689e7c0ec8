"""Faults land by construction: a process fault anchored at a task's start hits that very task
while it runs, even when the task itself takes microseconds, on both result backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chord_chaos.check.effectiveness import HIT
from chord_chaos.check.events import executions_by_node
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import parse_plan
from chord_chaos.models.vocabulary import BACKENDS

pytestmark = pytest.mark.cluster

# Every task is instant: without the latch, the kill would meet an idle process.
FAST_CHORD: dict[str, Any] = {"chord": {
    "header": [{"task": "tag", "args": [label], "immutable": True} for label in ("a", "b", "c")],
    "body": {"task": "tag", "args": ["z"]}}}


@pytest.fixture(scope="module", params=BACKENDS)
def runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRunner]:
    tmp = tmp_path_factory.mktemp(f"landing-{request.param}")
    with Cluster(backend=request.param, delivery="acks-late-reject", state_dir=tmp / "state") as cluster:
        chaos = ChaosRunner(cluster, tmp / "out", recovery=15.0)
        try:
            yield chaos
        finally:
            chaos.close()


def _mid(runner: ChaosRunner, kind: str, role: str, count: int) -> RunResult:
    plan = parse_plan({"faults": [{"kind": kind, "target": "@anchor", "at": 0.1, "duration": 0.2,
                                   "anchor": {"event": "start", "role": role, "count": count}}]})
    return runner.run(Job(kind, parse_workload(FAST_CHORD)), plan)


@pytest.mark.parametrize(("kind", "role", "count"), [
    ("kill_child", "header", 2), ("kill_worker", "header", 1), ("term_worker", "body", 1)])
def test_a_process_fault_lands_on_the_task_it_is_anchored_at(runner: ChaosRunner, kind: str, role: str,
                                                            count: int) -> None:
    result = _mid(runner, kind, role, count)
    h, v = result.history, result.verdict
    assert v.verdict == "pass", result.to_json()
    record = h.nemesis[0]
    held = record["anchor_task"]
    assert held["latched"] and record["applied"] >= record["anchor_at"] + 0.1 - 1e-3  # both rounded to 0.1 ms
    [landing] = v.landings
    assert landing.outcome == HIT, landing
    assert landing.roles == (role,) and held["node"] in landing.evidence
    # A killed pool process never ends its task; a warm shutdown lets it end. (A pool process
    # whose main process was killed may still finish the task it holds, as an orphan.)
    ends = [e for e in h.events if e.kind == "end" and e.pid == held["pid"] and e.task_id == held["task_id"]]
    if kind != "kill_worker":
        assert bool(ends) == (kind == "term_worker"), ends
    if kind != "term_worker":  # requeued (reject on worker lost) or redelivered, and run again
        assert executions_by_node(h.events)[held["node"]] == 2
    assert h.client.status == "SUCCESS" and h.client.value == [[["a"], ["b"], ["c"]], "z"]


def test_a_fault_whose_anchor_never_comes_releases_nothing_and_is_skipped(runner: ChaosRunner) -> None:
    result = _mid(runner, "kill_child", "header", 4)  # a header of three
    assert result.verdict.verdict == "pass" and not result.verdict.landings
    assert result.history.nemesis[0]["note"] == "skipped"
    assert result.history.client.value == [[["a"], ["b"], ["c"]], "z"]
