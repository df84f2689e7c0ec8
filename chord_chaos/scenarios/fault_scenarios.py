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
from chord_chaos.models.faults import Anchor, Fault, FaultPlan
from chord_chaos.models.strategies import workloads
from chord_chaos.models.swarm import swarm_workloads
from chord_chaos.models.vocabulary import Backend, FaultKind
from chord_chaos.scenarios.scenario import Scenario
from chord_chaos.scenarios.workloads import slow_chords


def _generated() -> st.SearchStrategy[Workload]:
    return workloads(max_leaves=6)


Plans = Callable[[str], st.SearchStrategy[FaultPlan]]


def _anchored(kind: FaultKind, role: str, targets: Callable[[str], list[str]] | None = None,
              first: int = 1, last: int = 2) -> Plans:
    """One ``kind`` fault on the process running the n-th (``first`` to ``last``) start of a
    ``role`` task, applied while that task is held at its latch."""

    def plans(backend: str) -> st.SearchStrategy[FaultPlan]:
        names = targets(backend) if targets else ["@anchor"]
        return st.builds(
            lambda target, count, at, duration: FaultPlan((Fault(
                kind, target, at, duration, {}, Anchor("start", role, count)),)),
            st.sampled_from(names), st.integers(first, last),
            st.integers(1, 6).map(lambda n: n / 20), st.integers(2, 20).map(lambda n: n / 20))

    return plans


def _servers(backend: str) -> list[str]:
    return ["broker", "backend"] if backend == "redis" else ["broker"]


def _paused(backend: str) -> st.SearchStrategy[FaultPlan]:
    target = "backend" if backend == "redis" else "broker"
    return _anchored(FaultKind.PAUSE_REDIS, "header", lambda _: [target])(backend)


FAULT_SCENARIOS = (
    Scenario("broker-latency", "generated canvases; latency, bandwidth and slicing on broker links",
             _generated, partial(fault_plans, kinds=("latency", "bandwidth", "slicer"), servers=["broker"]),
             delivery="acks-early"),
    Scenario("backend-resets", "generated canvases; resets, cut and slowly closed backend connections",
             _generated, partial(fault_plans, kinds=("reset_peer", "limit_data", "slow_close"),
                                 servers=["backend"]),
             delivery="acks-early", backends=(Backend.REDIS,)),
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
             _anchored(FaultKind.RESTART_REDIS, "header", _servers, first=2, last=3)),
    Scenario("worker-partitioned", "generated canvases; one worker cut off from broker and backend",
             _generated, partial(fault_plans, kinds=("partition",), max_faults=1, who=["w0", "w1"])),
    Scenario("swarm", "swarm-drawn canvases and fault kinds: each case first draws which canvas "
             "features and fault kinds it may use, then draws within them", swarm_workloads,
             partial(fault_plans, swarm=True)),
    Scenario("backend-paused", "slow chords; the result backend (or, on database, the broker) "
             "SIGSTOPped while a header task runs, then resumed", slow_chords, _paused),
)

