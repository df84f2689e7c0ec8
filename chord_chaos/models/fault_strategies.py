"""Hypothesis strategies for fault plans, drawn together with the canvas.

Faults land by default: each is anchored at the start of a task of the run, which a latch holds
until the fault is applied (``harness/worker/latch.py``), and a process fault targets the
process running it (``@anchor``). Plans drawn with ``landing=False`` are timed from submission
instead, and mostly meet idle processes. With ``swarm``, a plan first draws which of ``kinds``
it may use, then its faults from those (swarm testing: rare combinations come early).

Shrinking: fewer faults, earlier and shorter, the first kind listed (the gentlest: latency
first), targets towards a single worker's link, the first anchor role, parameters towards their
minimum. Times are multiples of 0.05 s so that a plan reads (and replays) cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from chord_chaos.models.faults import (
    ANCHOR_ROLES,
    KINDS,
    NETWORK_KINDS,
    SERVER_KINDS,
    Anchor,
    Fault,
    FaultPlan,
    links_of,
    server_roles,
)
from chord_chaos.models.vocabulary import FaultKind

GENTLE_FIRST = ("latency", "bandwidth", "slicer", "slow_close", "reset_peer", "limit_data", "timeout",
                "partition", "pause_redis", "term_worker", "kill_child", "kill_worker",
                "restart_postgres", "restart_rabbitmq", "kill_rabbitmq", "restart_redis", "kill_redis")
assert sorted(GENTLE_FIRST) == sorted(KINDS)

_PARAMS: dict[str, dict[str, tuple[int, int]]] = {
    "latency": {"latency": (10, 500), "jitter": (0, 200)},
    "bandwidth": {"rate": (1, 64)},
    "slow_close": {"delay": (10, 1000)},
    "timeout": {"timeout": (0, 2000)},
    "reset_peer": {"timeout": (0, 500)},
    "limit_data": {"bytes": (64, 20_000)},
    "slicer": {"average_size": (1, 64), "size_variation": (0, 32), "delay": (0, 1000)},
}


def _seconds(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.integers(round(lo * 20), round(hi * 20)).map(lambda n: n / 20)


@st.composite
def _params(draw: st.DrawFn, kind: str) -> dict[str, float]:
    params = {name: float(draw(st.integers(lo, hi))) for name, (lo, hi) in _PARAMS.get(kind, {}).items()}
    if kind == "slicer":  # below average_size, or Toxiproxy 2.12 panics (Shopify/toxiproxy#541)
        params["size_variation"] = min(params["size_variation"], params["average_size"] - 1)
    return params


def _network_target(backend: str, workers: int, who: Sequence[str] | None,
                    servers: Sequence[str] | None) -> st.SearchStrategy[str]:
    whos = list(who or [*(f"w{i}" for i in range(workers)), "*", "client"])
    ours = ["broker", "backend", "*"] if len(links_of(backend)) == 2 else ["broker"]
    return st.builds(lambda w, s: f"{w}.{s}", st.sampled_from(whos),
                     st.sampled_from([s for s in ours if servers is None or s in servers]))


def runnable(kinds: Sequence[str], backend: str, broker: str) -> list[str]:
    """The kinds that have a target in this cluster, gentlest first."""
    return [k for k in GENTLE_FIRST if k in kinds and server_roles(FaultKind(k), backend, broker) != []]


@st.composite
def faults(draw: st.DrawFn, backend: str, kinds: Sequence[str], workers: int = 2,
           max_at: float = 2.0, max_duration: float = 2.0, who: Sequence[str] | None = None,
           servers: Sequence[str] | None = None, landing: bool = True, broker: str = "redis") -> Fault:
    kind = draw(st.sampled_from(runnable(kinds, backend, broker)))
    anchor = None
    if landing:
        anchor = Anchor("start", draw(st.sampled_from(ANCHOR_ROLES)), draw(st.integers(1, 2)))
    elif draw(st.booleans()):
        anchor = Anchor(draw(st.sampled_from(("start", "end"))), draw(st.sampled_from(ANCHOR_ROLES)),
                        draw(st.integers(1, 3)))
    if kind in NETWORK_KINDS:
        target = draw(_network_target(backend, workers, who, servers))
    elif kind in SERVER_KINDS:
        target = draw(st.sampled_from(server_roles(FaultKind(kind), backend, broker) or ["broker"]))
    elif landing:
        target = "@anchor"
    else:
        choices = [f"w{i}" for i in range(workers)] + (["@anchor"] if anchor else [])
        target = draw(st.sampled_from(choices))
    at = draw(_seconds(0, max_at if anchor is None else 0.3 if landing else 0.5))
    return Fault(FaultKind(kind), target, at, draw(_seconds(0.05, max_duration)), draw(_params(kind)),
                 anchor)


def fault_plans(backend: str = "redis", kinds: Sequence[str] = GENTLE_FIRST, max_faults: int = 2,
                workers: int = 2, max_at: float = 2.0, max_duration: float = 2.0,
                who: Sequence[str] | None = None, servers: Sequence[str] | None = None,
                landing: bool = True, swarm: bool = False, broker: str = "redis"
                ) -> st.SearchStrategy[FaultPlan]:
    """Plans of 1..max_faults faults of ``kinds``; only links and servers the cluster (its
    ``backend`` choice and ``broker``) has. ``who`` and ``servers`` narrow network targets
    (e.g. ``servers=["broker"]``)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; use {', '.join(GENTLE_FIRST)}")
    if not runnable(kinds, backend, broker):
        raise ValueError(f"none of {', '.join(kinds)} has a target on {broker} + {backend}")

    def plans(allowed: Sequence[str]) -> st.SearchStrategy[FaultPlan]:
        one = faults(backend, allowed, workers, max_at, max_duration, who, servers, landing, broker)
        return st.lists(one, min_size=1, max_size=max_faults).map(lambda fs: FaultPlan(tuple(fs)))

    if not swarm:
        return plans(kinds)
    ordered = runnable(kinds, backend, broker)
    return st.sets(st.sampled_from(ordered), min_size=1).map(sorted).flatmap(plans)
