"""Whether a fault landed is judged from evidence: the ledger, and the traffic on its links."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chord_chaos.check.effectiveness import HIT, MISSED, UNMEASURED, in_flight, landings
from chord_chaos.check.events import Event
from chord_chaos.check.history import ClientView, History
from tests.helpers import event

S = 1_000_000_000  # ns
T0 = 100 * S


def _on(e: Event, host: str) -> Event:
    return replace(e, hostname=f"{host}@127.0.0.1")


def _history(events: list[Event], record: dict[str, Any], client: ClientView | None = None) -> History:
    record = {"fault": 0, "target": "@anchor", "at": 0.1, "duration": 0.2, "healed": 2.0,
              "error": None, "note": None, **record}
    return History(run="r", workload={"task": "tag"}, backend="redis",
                   client=client or ClientView("SUCCESS", [], elapsed=3.0), events=tuple(events),
                   timeout=30.0, meta={"t0_mono_ns": T0},
                   faults={"faults": [{"kind": record["kind"], "target": "@anchor"}]},
                   nemesis=(record,))


HEADER = "$.chord.header[0]"
BODY = "$.chord.body"


def test_a_child_kill_hits_the_pool_process_running_a_task() -> None:
    events = [_on(event("start", HEADER, T0 + S // 2, pid=7), "w0")]
    [landing] = landings(_history(events, {"kind": "kill_child", "resolved": ["w0:7"], "applied": 1.0}))
    assert landing.outcome == HIT and landing.roles == ("header",) and HEADER in landing.evidence


def test_a_child_kill_of_an_idle_process_misses_even_beside_a_busy_one() -> None:
    events = [_on(event("start", HEADER, T0 + S // 2, pid=7), "w0"),
              _on(event("end", HEADER, T0 + S // 2 + 1000, pid=7), "w0"),  # ended before the kill
              _on(event("start", BODY, T0 + S // 2, pid=8), "w0")]  # busy, but another process
    [landing] = landings(_history(events, {"kind": "kill_child", "resolved": ["w0:7"], "applied": 1.0}))
    assert landing.outcome == MISSED and "pool process 7 of w0" in landing.evidence


def test_a_task_that_starts_after_the_kill_is_not_in_flight_at_it() -> None:
    events = [_on(event("start", HEADER, T0 + 2 * S, pid=7), "w0")]
    [landing] = landings(_history(events, {"kind": "kill_worker", "resolved": ["w0"], "applied": 1.0}))
    assert landing.outcome == MISSED


def test_a_worker_kill_hits_through_the_messages_it_held_unacknowledged() -> None:
    back = replace(_on(event("start", BODY, T0 + 12 * S, pid=9), "w1"), redelivered=True)
    [landing] = landings(_history([back], {"kind": "kill_worker", "resolved": ["w0"], "applied": 1.0}))
    assert landing.outcome == HIT and landing.roles == ("body",) and "redelivered" in landing.evidence


def test_a_worker_kill_judges_only_its_own_worker() -> None:
    events = [_on(event("start", HEADER, T0 + S // 2, pid=7), "w1")]
    for kind in ("kill_worker", "term_worker"):
        [landing] = landings(_history(events, {"kind": kind, "resolved": ["w0"], "applied": 1.0}))
        assert landing.outcome == MISSED, kind
        [landing] = landings(_history(events, {"kind": kind, "resolved": ["w1"], "applied": 1.0}))
        assert landing.outcome == HIT, kind


def test_a_redis_fault_hits_while_any_task_of_the_run_is_in_flight() -> None:
    events = [_on(event("start", HEADER, T0 + S // 2, pid=7), "w1")]
    record = {"kind": "restart_redis", "target": "backend", "resolved": ["backend"]}
    assert landings(_history(events, {**record, "applied": 1.0}))[0].outcome == HIT
    done = [*events, _on(event("end", HEADER, T0 + S // 2 + 5, pid=7), "w1")]
    assert landings(_history(done, {**record, "applied": 1.0}))[0].outcome == MISSED


def test_a_network_fault_hits_when_traffic_met_it_while_the_run_was_open() -> None:
    record = {"kind": "latency", "target": "w0.broker", "resolved": ["w0.broker"], "applied": 1.0}
    busy = {"measured": True, "connections": 2, "bytes": 310, "opened": 0, "closed": 0}
    quiet = {**busy, "bytes": 0}
    assert landings(_history([], {**record, "traffic": busy}))[0].outcome == HIT
    assert landings(_history([], {**record, "traffic": busy}))[0].roles == ("broker",)
    assert landings(_history([], {**record, "traffic": quiet}))[0].outcome == MISSED
    cut = {**quiet, "closed": 2}  # a partition closes every connection on the link
    assert landings(_history([], {**record, "kind": "partition", "traffic": cut}))[0].outcome == HIT
    assert landings(_history([], {**record, "traffic": {"measured": False}}))[0].outcome == UNMEASURED
    over = ClientView("SUCCESS", [], elapsed=0.5)  # the result came before the fault
    assert landings(_history([], {**record, "traffic": busy}, over))[0].outcome == MISSED


def test_faults_not_applied_or_failed_are_not_judged() -> None:
    record = {"kind": "kill_child", "resolved": ["w0:7"]}
    assert landings(_history([], {**record, "applied": None})) == ()
    assert landings(_history([], {**record, "applied": 1.0, "error": "skipped"})) == ()
    down = landings(_history([], {**record, "applied": 1.0, "note": "worker already down"}))
    assert down[0].outcome == MISSED


def test_in_flight_pairs_a_start_with_its_own_end_only() -> None:
    a = event("start", HEADER, 10, pid=1)
    other_pid_end = event("end", HEADER, 11, pid=2)
    assert in_flight((a, other_pid_end), 20, lambda e: True) == [a]
    assert in_flight((a, event("end", HEADER, 11, pid=1)), 20, lambda e: True) == []
    assert in_flight((a, event("end", HEADER, 30, pid=1)), 20, lambda e: True) == [a]


def test_a_link_callback_in_flight_keeps_the_run_open_after_its_result() -> None:
    record = {"kind": "latency", "target": "w0.broker", "resolved": ["w0.broker"], "applied": 1.0,
              "traffic": {"measured": True, "connections": 2, "bytes": 10, "opened": 0, "closed": 0}}
    early = ClientView("SUCCESS", [], elapsed=0.5)
    link = [_on(event("start", "$.link", T0 + S // 2, pid=7), "w0")]
    assert landings(_history(link, record, early))[0].outcome == HIT
