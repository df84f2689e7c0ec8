"""The nemesis on a real chaos cluster: each fault takes effect, and each heals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chord_chaos.check.events import Event
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.ports import HOST
from chord_chaos.harness.run.nemesis import Nemesis
from chord_chaos.models.faults import Anchor, Fault, FaultPlan
from chord_chaos.models.vocabulary import FaultKind
from tests.helpers import gone, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("nemesis")
    with Cluster(backend="redis", delivery="acks-late", state_dir=root / "state") as c:
        yield c


def _client(port: int, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def _drive(n: Nemesis, events: tuple[Event, ...] = (), limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not n.done and time.monotonic() < deadline:
        n.step(events)
        time.sleep(0.01)
    n.heal_all()


def _one(fault: Fault) -> FaultPlan:
    return FaultPlan((fault,))


def test_latency_slows_every_matching_link_and_heals(cluster: Cluster) -> None:
    n = Nemesis(cluster, _one(Fault(FaultKind.LATENCY, "*.backend", 0.0, 1.0, {"latency": 300})),
                time.monotonic())
    n.step(())
    assert cluster.proxies is not None
    slowed = [name for name in cluster.links if cluster.proxies.toxics(name)]
    assert slowed == ["w0.backend", "w1.backend", "client.backend"]
    r = _client(cluster.links["client.backend"].listen_port)
    t = time.monotonic()
    assert r.ping()
    assert time.monotonic() - t >= 0.3
    _drive(n)
    assert all(not cluster.proxies.toxics(name) for name in cluster.links)
    record = n.records()[0]
    assert record["resolved"] == ["client.backend", "w0.backend", "w1.backend"]
    assert record["healed"] - record["applied"] >= 1.0 and not n.errors


def test_jitter_is_ours_and_replays_from_the_plan(cluster: Cluster) -> None:
    plan = _one(Fault(FaultKind.LATENCY, "w0.broker", 0.0, 0.5, {"latency": 100, "jitter": 80}))
    a, b = Nemesis(cluster, plan, 0.0), Nemesis(cluster, plan, 0.0)
    assert a.faults[0].rng is not None and b.faults[0].rng is not None
    assert [a.faults[0].rng.random() for _ in range(5)] == [b.faults[0].rng.random() for _ in range(5)]
    n = Nemesis(cluster, plan, time.monotonic())
    assert cluster.proxies is not None
    seen = set()
    deadline = time.monotonic() + 0.45
    while time.monotonic() < deadline:
        n.step(())
        seen |= {t["attributes"]["latency"] for t in cluster.proxies.toxics("w0.broker")}
        time.sleep(0.02)
    _drive(n)
    assert len(seen) > 1 and all(20 <= v <= 180 for v in seen), seen


def test_a_partition_refuses_connections_until_healed(cluster: Cluster) -> None:
    port = cluster.links["w1.broker"].listen_port
    n = Nemesis(cluster, _one(Fault(FaultKind.PARTITION, "w1.broker", 0.0, 0.3)), time.monotonic())
    n.step(())
    with pytest.raises(redis.ConnectionError):
        _client(port, 0.5).ping()
    _drive(n)
    assert _client(port).ping()


def test_a_killed_worker_is_restarted_by_the_heal(cluster: Cluster) -> None:
    before = cluster.worker("w0").pid
    n = Nemesis(cluster, _one(Fault(FaultKind.KILL_WORKER, "w0", 0.0, 0.2)), time.monotonic())
    n.step(())
    assert gone(before)
    _drive(n)
    w0 = cluster.worker("w0")
    assert w0.alive() and w0.pid != before
    assert cluster.control_app.control.ping(destination=[w0.hostname], timeout=2.0)


def test_a_worker_restarted_behind_a_faulted_link_never_holds_up_that_links_heal(cluster: Cluster) -> None:
    """The gate's 'unknown': a worker restarted while its broker link is still partitioned
    cannot answer a ping until the partition heals, so the heal that restarted it must not
    wait for it (it once did, for 30 s, and the partition's heal waited behind it)."""
    before = cluster.worker("w0").pid
    plan = FaultPlan((Fault(FaultKind.PARTITION, "w0.broker", 0.0, 2.0),
                      Fault(FaultKind.KILL_WORKER, "w0", 0.1, 0.1)))
    n = Nemesis(cluster, plan, time.monotonic())
    _drive(n)
    partition, kill = n.records()
    assert not n.errors, n.errors
    assert partition["healed"] < 3.0 and kill["healed"] < 1.5, n.records()
    w0 = cluster.worker("w0")
    assert w0.pid != before
    assert cluster.control_app.control.ping(destination=[w0.hostname], timeout=2.0)


def test_a_warm_shutdown_is_awaited_without_holding_up_other_heals(cluster: Cluster) -> None:
    n = Nemesis(cluster, FaultPlan((Fault(FaultKind.TERM_WORKER, "w1", 0.0, 0.05),
                                    Fault(FaultKind.LATENCY, "w0.broker", 0.0, 0.3, {"latency": 10}))),
                time.monotonic())
    _drive(n)
    term, latency = n.records()
    assert not n.errors and term["note"] is None, n.records()
    assert latency["healed"] < 1.0
    assert cluster.control_app.control.ping(destination=[cluster.worker("w1").hostname], timeout=2.0)


def test_a_killed_pool_child_is_replaced_by_its_worker(cluster: Cluster) -> None:
    w1 = cluster.worker("w1")
    children = w1.pool_pids()
    n = Nemesis(cluster, _one(Fault(FaultKind.KILL_CHILD, "w1", 0.0, 0.1)), time.monotonic())
    _drive(n)
    victim = min(children)
    assert gone(victim) and n.records()[0]["resolved"] == [f"w1:{victim}"]
    assert wait_for(lambda: len(w1.pool_pids()) == len(children) and victim not in w1.pool_pids(), 10)
    assert w1.alive()


def test_a_redis_restart_loses_every_key_and_keeps_its_port(cluster: Cluster) -> None:
    server = cluster.redis("backend")
    port, pid = server.port, server.pid
    assert port is not None
    _client(port).set("cc-test-key", "1")
    _drive(Nemesis(cluster, _one(Fault(FaultKind.RESTART_REDIS, "backend", 0.0, 0.1)), time.monotonic()))
    assert server.port == port and server.pid != pid
    assert _client(port).get("cc-test-key") is None


def test_a_killed_redis_is_down_during_the_fault_and_back_after(cluster: Cluster) -> None:
    server = cluster.redis("broker")
    assert server.port is not None
    n = Nemesis(cluster, _one(Fault(FaultKind.KILL_REDIS, "broker", 0.0, 0.3)), time.monotonic())
    n.step(())
    with pytest.raises(redis.ConnectionError):
        _client(server.port, 0.5).ping()
    _drive(n)
    assert _client(server.port).ping()
    cluster.reset(full=True)  # the workers lost their broker: the runner resets after such a run


def test_a_paused_redis_answers_nothing_until_resumed(cluster: Cluster) -> None:
    server = cluster.redis("backend")
    assert server.port is not None
    n = Nemesis(cluster, _one(Fault(FaultKind.PAUSE_REDIS, "backend", 0.0, 0.5)), time.monotonic())
    n.step(())
    with pytest.raises(redis.TimeoutError):
        _client(server.port, 0.2).ping()
    _drive(n)
    assert _client(server.port).ping()


def test_an_anchored_fault_waits_for_its_anchor(cluster: Cluster) -> None:
    plan = _one(Fault(FaultKind.LATENCY, "w0.backend", 0.1, 0.2, {"latency": 50}, Anchor("end", "body")))
    t0 = time.monotonic()
    n = Nemesis(cluster, plan, t0)
    header_end = Event("end", "r", "$.chord.header[0]", None, 0, "w0@127.0.0.1", 1, 0.0,
                       time.monotonic_ns(), [], {}, {"ok": 1})
    n.step((header_end,))
    time.sleep(0.2)
    n.step((header_end,))
    assert n.faults[0].applied is None  # a header end is not the anchor
    body_end = Event("end", "r", "$.chord.body", None, 0, "w0@127.0.0.1", 1, 0.0,
                     time.monotonic_ns(), [], {}, {"ok": 1})
    _drive(n, (header_end, body_end))
    record = n.records()[0]
    assert record["anchor_at"] is not None and record["applied"] >= record["anchor_at"] + 0.1 - 1e-3


def test_a_fault_that_cannot_be_applied_is_a_harness_error(cluster: Cluster) -> None:
    n = Nemesis(cluster, _one(Fault(FaultKind.LATENCY, "w7.broker", 0.0, 0.1, {"latency": 10})),
                time.monotonic())
    _drive(n)
    assert n.errors and "no link matches 'w7.broker'" in n.errors[0]


def test_an_anchor_that_never_comes_is_skipped_not_an_error(cluster: Cluster) -> None:
    n = Nemesis(cluster, _one(Fault(FaultKind.KILL_WORKER, "@anchor", 0.0, 0.1,
                                    anchor=Anchor("start", "body"))),
                time.monotonic())
    n.step(())
    n.skip_unanchored("skipped: its anchor event never happened in this run")
    assert n.done and not n.errors and n.records()[0]["note"] == "skipped"


def test_cluster_dir_holds_the_toxiproxy_log(cluster: Cluster) -> None:
    assert cluster.toxiproxy is not None and cluster.toxiproxy.alive()
    assert Path(cluster.run_dir / "toxiproxy.log").exists()
