"""Fault-focused scenarios: one fault family each, aimed where chords are fragile.

Every fault is anchored at a task's start and applied while a latch holds that task, so a
scenario named "mid-header" kills a process that is running a header task, by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from hypothesis import strategies as st

from chord_chaos.models.canvas import Workload
from chord_chaos.models.fault_strategies import fault_plans
from chord_chaos.models.faults import Anchor, Fault, FaultPlan, server_roles
from chord_chaos.models.strategies import workloads
from chord_chaos.models.swarm import swarm_workloads
from chord_chaos.models.vocabulary import POSTGRES, Backend, Broker, FaultKind
from chord_chaos.scenarios.scenario import Scenario
from chord_chaos.scenarios.workloads import slow_chords


def _generated() -> st.SearchStrategy[Workload]:
    return workloads(max_leaves=6)


Plans = Callable[..., st.SearchStrategy[FaultPlan]]
Targets = Callable[[str, str], list[str]]  # (backend, broker) -> targets


def _anchored(kinds: FaultKind | tuple[FaultKind, ...], role: str, targets: Targets | None = None,
              first: int = 1, last: int = 2) -> Plans:
    """One fault of ``kinds`` on the process (or server) running the n-th (``first`` to
    ``last``) start of a ``role`` task, applied while that task is held at its latch."""
    choices = kinds if isinstance(kinds, tuple) else (kinds,)

    def plans(backend: str, broker: str = "redis") -> st.SearchStrategy[FaultPlan]:
        names = targets(backend, broker) if targets else ["@anchor"]
        return st.builds(
            lambda kind, target, count, at, duration: FaultPlan((Fault(
                kind, target, at, duration, {}, Anchor("start", role, count)),)),
            st.sampled_from(choices), st.sampled_from(names), st.integers(first, last),
            st.integers(1, 6).map(lambda n: n / 20), st.integers(2, 20).map(lambda n: n / 20))

    return plans


def _servers(kind: FaultKind) -> Targets:
    def roles(backend: str, broker: str) -> list[str]:
        found = server_roles(kind, backend, broker)
        if not found:
            raise ValueError(f"no server for {kind} on {broker} + {backend}")
        return found
    return roles


def _paused(backend: str, broker: str = "redis") -> st.SearchStrategy[FaultPlan]:
    roles = _servers(FaultKind.PAUSE_REDIS)(backend, broker)
    target = "backend" if "backend" in roles else roles[0]
    return _anchored(FaultKind.PAUSE_REDIS, "header", lambda _b, _k: [target])(backend, broker)


FAULT_SCENARIOS = (
    Scenario("broker-latency", "generated canvases; latency, bandwidth and slicing on broker links",
             _generated, partial(fault_plans, kinds=("latency", "bandwidth", "slicer"), servers=["broker"]),
             delivery="acks-early"),
    Scenario("backend-resets", "generated canvases; resets, cut and slowly closed backend connections",
             _generated, partial(fault_plans, kinds=("reset_peer", "limit_data", "slow_close"),
                                 servers=["backend"]),
             delivery="acks-early", backends=(Backend.REDIS, POSTGRES)),
    Scenario("worker-killed-mid-header", "slow chords; SIGKILL of the worker running a header task",
             slow_chords, _anchored(FaultKind.KILL_WORKER, "header")),
    Scenario("worker-killed-mid-body", "slow chords; SIGKILL of the worker running the chord body",
             slow_chords, _anchored(FaultKind.KILL_WORKER, "body", last=1)),
    Scenario("child-killed-mid-header", "slow chords; SIGKILL of the pool process running a header "
             "task, with task_reject_on_worker_lost", slow_chords, _anchored(FaultKind.KILL_CHILD, "header"),
             delivery="acks-late-reject"),
    Scenario("warm-shutdown-mid-header", "slow chords; SIGTERM (warm shutdown) of a header task's worker",
             slow_chords, _anchored(FaultKind.TERM_WORKER, "header"), delivery="acks-early"),
    Scenario("redis-restart-mid-chord", "slow chords; a Redis server restarted (all keys lost) "
             "while the second or third header task runs", slow_chords,
             _anchored(FaultKind.RESTART_REDIS, "header", _servers(FaultKind.RESTART_REDIS),
                       first=2, last=3)),
    Scenario("worker-partitioned", "generated canvases; one worker cut off from broker and backend",
             _generated, partial(fault_plans, kinds=("partition",), max_faults=1, who=["w0", "w1"])),
    Scenario("swarm", "swarm-drawn canvases and fault kinds: each case first draws which canvas "
             "features and fault kinds it may use, then draws within them", swarm_workloads,
             partial(fault_plans, swarm=True)),
    Scenario("backend-paused", "slow chords; the result backend (or, on database, the broker) "
             "SIGSTOPped while a header task runs, then resumed", slow_chords, _paused),
    Scenario("broker-resets", "generated canvases; broker connections reset, black-holed or cut "
             "(the proxy disabled) and healed", _generated,
             partial(fault_plans, kinds=("reset_peer", "timeout", "partition"), servers=["broker"],
                     max_faults=1)),
    Scenario("rabbitmq-restart-mid-chord", "slow chords; the RabbitMQ node killed (restarted "
             "after a pause) or restarted at once while the second or third header task runs",
             slow_chords, _anchored((FaultKind.RESTART_RABBITMQ, FaultKind.KILL_RABBITMQ), "header",
                                    _servers(FaultKind.RESTART_RABBITMQ), first=2, last=3),
             brokers=(Broker.RABBITMQ,), restarts="rabbitmq"),
    Scenario("postgres-restart-mid-chord", "slow chords; the PostgreSQL result backend restarted "
             "while a header task runs", slow_chords,
             _anchored(FaultKind.RESTART_POSTGRES, "header", _servers(FaultKind.RESTART_POSTGRES)),
             backends=(POSTGRES,), restarts="postgres"),
)

