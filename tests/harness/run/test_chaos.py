"""Chaos runs end to end on real workers: faults take effect, Celery's promises are judged."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chord_chaos.check.events import executions_by_node
from chord_chaos.check.lost_messages import lost_messages
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import FaultPlan, parse_plan

pytestmark = pytest.mark.cluster

SLOW_CHORD: dict[str, Any] = {"chord": {
    "header": [{"task": "sleep", "args": [0.6, "a"], "immutable": True},
               {"task": "sleep", "args": [0.6, "b"], "immutable": True},
               {"task": "tag", "args": ["c"], "immutable": True}],
    "body": {"task": "tag", "args": ["z"]}}}
GROUPED = {"group": [SLOW_CHORD, {"task": "tag", "args": ["side"], "immutable": True}]}
MID_HEADER = {"anchor": {"event": "start", "role": "header", "count": 1}, "at": 0.2, "duration": 0.3,
              "target": "@anchor"}


def _runner(request: pytest.FixtureRequest, tmp: Path, delivery: str) -> Iterator[ChaosRunner]:
    with Cluster(backend="redis", delivery=delivery, state_dir=tmp / "state") as cluster:
        runner = ChaosRunner(cluster, tmp / "out", recovery=15.0)
        try:
            yield runner
        finally:
            runner.close()


@pytest.fixture(scope="module")
def late(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRunner]:
    yield from _runner(request, tmp_path_factory.mktemp("late"), "acks-late")


@pytest.fixture(scope="module")
def early(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRunner]:
    yield from _runner(request, tmp_path_factory.mktemp("early"), "acks-early")


def _run(runner: ChaosRunner, canvas: dict[str, Any], faults: list[dict[str, Any]]) -> RunResult:
    plan: FaultPlan = parse_plan({"faults": faults})
    return runner.run(Job("t", parse_workload(canvas)), plan)


def test_a_group_result_resolves_without_faults(late: ChaosRunner) -> None:
    result = _run(late, GROUPED, [])
    assert result.verdict.verdict == "pass", result.to_json()
    assert result.history.client.value == [[["a", "b", ["c"]], "z"], ["side"]]


def test_a_killed_workers_header_task_is_redelivered_under_acks_late(late: ChaosRunner) -> None:
    result = _run(late, GROUPED, [{"kind": "kill_worker", **MID_HEADER}])
    v = result.verdict
    assert v.verdict == "pass", result.to_json()
    runs = executions_by_node(result.history.events)
    assert runs["$.group[0].chord.body"] == 1 and result.history.client.status == "SUCCESS"
    redelivered = [n for n, k in runs.items() if k == 2]
    assert redelivered, runs  # the killed worker's running task ran again elsewhere
    assert {prop for prop, _ in v.anomalies} == {"at_most_once", "finished"}
    record = result.history.nemesis[0]
    assert record["applied"] >= record["anchor_at"] + 0.2 - 1e-3 and record["healed"] is not None


def test_a_frozen_worker_killed_loses_the_message_it_had_popped(late: ChaosRunner) -> None:
    """kombu#305, registered as redis-message-lost-off-queue: a worker stopped (SIGSTOP) while
    its BRPOP is outstanding is handed a message it never records as unacknowledged; killing
    it loses that message for good, acks_late notwithstanding. Its BRPOP lasts a second at
    most, so an attempt may see it expire first and lose nothing: up to three attempts."""
    cluster = late.cluster
    assert isinstance(cluster, Cluster)
    map_reduce = {"chord": {"header": [{"task": "mul", "args": [i, 2]} for i in range(1, 6)],
                            "body": {"task": "tsum"}}}
    for _ in range(3):
        os.kill(cluster.worker("w0").pid, signal.SIGSTOP)
        result = _run(late, map_reduce, [{"kind": "kill_worker", "target": "w0", "at": 0.2,
                                          "duration": 0.05}])
        assert result.verdict.verdict == "pass", result.to_json()
        if result.verdict.known:
            break
    h = result.history
    assert h.client.status == "TIMEOUT", result.to_json()
    assert {k for k, _ in result.verdict.known} == {"redis-message-lost-off-queue"}
    lost = lost_messages(h.deliveries, h.broker)
    assert len(lost) == 1 and lost[0].hostname == "client" and lost[0].node.startswith("$.chord.header[")
    assert lost[0].node not in executions_by_node(h.events)
    assert h.broker["states"][lost[0].task_id] == "PENDING"


def test_a_killed_pool_child_fails_the_chord_with_worker_lost_under_acks_early(early: ChaosRunner) -> None:
    result = _run(early, SLOW_CHORD, [{"kind": "kill_child", **MID_HEADER}])
    assert result.verdict.verdict == "pass", result.to_json()
    assert result.history.client.error == "WorkerLostError"
    assert "exact_outcome" in {prop for prop, _ in result.verdict.anomalies}


def test_a_reset_on_the_clients_link_is_seen_by_the_client_and_retried(early: ChaosRunner) -> None:
    result = _run(early, SLOW_CHORD, [{"kind": "reset_peer", "target": "client.backend", "at": 0.1,
                                        "duration": 1.5}])  # covers the body's result
    assert result.history.client_errors, result.to_json()
    assert any("Connection to Redis lost" in e or "ConnectionError" in e
               for e in result.history.client_errors), result.history.client_errors
    assert result.history.client.status == "SUCCESS"  # the wait went on after the heal
    assert result.verdict.verdict == "pass"


def test_latency_on_every_link_delays_but_passes_exactly(early: ChaosRunner) -> None:
    result = _run(early, SLOW_CHORD, [{"kind": "latency", "target": "*.*", "at": 0.0, "duration": 1.0,
                                        "params": {"latency": 200}}])
    assert result.verdict.verdict == "pass" and not result.verdict.anomalies, result.to_json()
    assert result.history.client.elapsed >= 0.8


def test_a_fault_in_the_harness_itself_is_unknown(tmp_path: Path) -> None:
    with Cluster(backend="redis", delivery="acks-early", state_dir=tmp_path / "state") as cluster:
        runner = ChaosRunner(cluster, tmp_path / "out", recovery=2.0)
        try:
            assert cluster.toxiproxy is not None
            threading.Timer(0.3, cluster.toxiproxy.kill).start()  # the proxy process dies mid-run
            result = _run(runner, SLOW_CHORD, [{"kind": "latency", "target": "w0.broker", "at": 0.0,
                                                "duration": 1.0, "params": {"latency": 50}}])
            assert result.verdict.verdict == "unknown", result.to_json()
            assert any("toxiproxy-server is not running" in r for r in result.verdict.reasons)
            with pytest.raises(HarnessError, match="could not be reset"):
                _run(runner, SLOW_CHORD, [])
        finally:
            runner.close()
