"""Chaos runs on RabbitMQ and PostgreSQL: each new fault takes effect and heals, and a killed
worker's task is requeued at once under acks_late (no visibility timeout to wait for)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chord_chaos.check.events import executions_by_node
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.postgres_server import answers
from chord_chaos.harness.infra.rabbitmq_server import amqp_answers
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import parse_plan
from chord_chaos.models.guarantees import REDELIVERY_WINDOW, VISIBILITY_TIMEOUT
from tests.harness.run.test_chaos import GROUPED, MID_HEADER, SLOW_CHORD

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRunner]:
    tmp = tmp_path_factory.mktemp("rabbitmq")
    with Cluster(backend="postgres", broker="rabbitmq", delivery="acks-late",
                 state_dir=tmp / "state") as cluster:
        chaos = ChaosRunner(cluster, tmp / "out", recovery=4.0)  # data loss hangs: judged sooner
        try:
            yield chaos
        finally:
            chaos.close()


def _run(runner: ChaosRunner, canvas: dict[str, Any], faults: list[dict[str, Any]]) -> RunResult:
    return runner.run(Job("t", parse_workload(canvas)), parse_plan({"faults": faults}))


def _healthy(runner: ChaosRunner) -> None:
    """Every server answers again, and a fault-free run passes on the same cluster."""
    cluster = runner.cluster
    assert isinstance(cluster, Cluster)
    assert amqp_answers(cluster.rabbitmq().port or 0) and answers(cluster.postgresql().port or 0)
    after = _run(runner, SLOW_CHORD, [])
    assert after.verdict.verdict == "pass", after.to_json()


def test_a_killed_workers_header_task_is_requeued_at_once(runner: ChaosRunner) -> None:
    result = _run(runner, GROUPED, [{"kind": "kill_worker", **MID_HEADER}])
    assert result.verdict.verdict == "pass", result.to_json()  # prompt redelivery held
    h = result.history
    assert h.meta["broker"] == "rabbitmq" and h.meta["database"] == "postgres"
    (kill,) = [r for r in h.nemesis if r["kind"] == "kill_worker"]
    kill_ns = h.meta["t0_mono_ns"] + kill["applied"] * 1e9
    starts = [e for e in h.events if e.kind == "start" and e.node.startswith("$.group[0].chord.header")]
    killed = [e for e in starts if e.mono < kill_ns and e.hostname.startswith(kill["resolved"][0])]
    assert killed, "the kill did not land on a running header task"
    again = min(e.mono for e in starts if e.node == killed[0].node and e.mono > kill_ns)
    # Redis would restore it only after the visibility timeout; RabbitMQ requeues on disconnect
    assert (again - kill_ns) / 1e9 < min(REDELIVERY_WINDOW, VISIBILITY_TIMEOUT / 2)
    assert executions_by_node(h.events)["$.group[0].chord.body"] == 1


def test_a_rabbitmq_node_killed_then_restarted_mid_chord_comes_back(runner: ChaosRunner) -> None:
    cluster = runner.cluster
    assert isinstance(cluster, Cluster)
    for kind in ("kill_rabbitmq", "restart_rabbitmq"):
        before = cluster.rabbitmq().pid
        result = _run(runner, SLOW_CHORD, [{"kind": kind, **MID_HEADER, "target": "broker"}])
        (record,) = result.history.nemesis
        assert record["applied"] is not None and record["error"] is None, record
        assert record["resolved"] == ["broker"] and cluster.rabbitmq().pid != before  # a new node
        assert result.verdict.verdict != "unknown", result.to_json()  # not promised, but judged
    _healthy(runner)


def test_a_postgres_restart_mid_chord_heals(runner: ChaosRunner) -> None:
    result = _run(runner, SLOW_CHORD, [{"kind": "restart_postgres", **MID_HEADER, "target": "backend"}])
    (record,) = result.history.nemesis
    assert record["applied"] is not None and record["error"] is None, record
    assert result.verdict.verdict != "unknown", result.to_json()
    _healthy(runner)


def test_a_cut_broker_link_heals(runner: ChaosRunner) -> None:
    result = _run(runner, SLOW_CHORD, [{"kind": "partition", "target": "w0.broker", "at": 0.0,
                                        "duration": 1.0}])
    assert result.history.nemesis[0]["resolved"] == ["w0.broker"]
    assert result.verdict.verdict != "unknown", result.to_json()
    _healthy(runner)
