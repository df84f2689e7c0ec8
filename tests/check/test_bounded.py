"""The checker under faults, on hand-written histories: safety always, the rest where promised."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chord_chaos.check.events import Event
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.verdict import check
from chord_chaos.models.faults import Fault, FaultPlan
from chord_chaos.models.vocabulary import FaultKind
from tests.helpers import (
    chord_history,
    chord_prediction,
    correct_chord_events,
    errback_events,
    errback_history,
    errback_prediction,
    event,
)

KILL = FaultPlan((Fault(FaultKind.KILL_WORKER, "w0", 0.1, 0.5),))
LATENCY = FaultPlan((Fault(FaultKind.LATENCY, "*.broker", 0.0, 1.0, {"latency": 50}),))
RESET = FaultPlan((Fault(FaultKind.RESET_PEER, "*.backend", 0.0, 1.0),))
CHILD = FaultPlan((Fault(FaultKind.KILL_CHILD, "w0", 0.1, 0.5),))


def _faulted(events: list[Event], plan: FaultPlan, delivery: str,
             client: ClientView | None = None) -> History:
    return replace(chord_history(events, client), faults=plan.to_json(), delivery=delivery)


def _verdict(events: list[Event], plan: FaultPlan, delivery: str,
             client: ClientView | None = None) -> dict[str, Any]:
    return check(chord_prediction(), _faulted(events, plan, delivery, client)).to_json()


def _redelivered_header() -> list[Event]:
    """header[0] killed mid-run (start, no end), run again elsewhere, then the body."""
    killed = event("start", "$.chord.header[0]", 0, ["a"], pid=9)
    return [killed, *correct_chord_events()]


def test_a_redelivered_header_task_is_an_anomaly_under_acks_late() -> None:
    v = _verdict(_redelivered_header(), KILL, "acks-late")
    assert v["verdict"] == "pass", v
    assert {a["property"] for a in v["anomalies"]} == {"at_most_once", "finished"}


def test_the_same_duplicate_is_a_violation_where_at_most_once_is_promised() -> None:
    events = [*correct_chord_events(), event("start", "$.chord.header[0]", 7, ["a"], pid=3),
              event("end", "$.chord.header[0]", 8, outcome={"ok": ["a"]}, pid=3)]
    v = _verdict(events, LATENCY, "acks-early")
    assert v["verdict"] == "violation"
    assert [x["check"] for x in v["violations"]] == ["executions"]


def test_a_body_with_a_missing_header_result_is_a_violation_under_every_fault() -> None:
    events = correct_chord_events()
    events[4] = event("start", "$.chord.body", 5, [[["a"]], "z"])
    for plan, delivery in ((KILL, "acks-late"), (RESET, "acks-early"), (CHILD, "acks-late-reject")):
        v = _verdict(events, plan, delivery)
        assert v["verdict"] == "violation", (plan, v)
        assert "inputs" in {x["check"] for x in v["violations"]}


def test_a_body_before_its_header_finished_is_a_violation_even_with_duplicates() -> None:
    events = [event("start", "$.chord.header[0]", 1, ["a"]),
              event("start", "$.chord.header[1]", 2, ["b"], pid=2),
              event("end", "$.chord.header[1]", 3, outcome={"ok": ["b"]}, pid=2),
              event("start", "$.chord.body", 4, [[["a"], ["b"]], "z"], pid=3),
              event("end", "$.chord.header[0]", 5, outcome={"ok": ["a"]}),
              event("end", "$.chord.body", 6, outcome={"ok": [[["a"], ["b"]], "z"]}, pid=3)]
    v = _verdict(events, KILL, "acks-late")
    assert v["verdict"] == "violation" and v["violations"][0]["check"] == "order"


def test_a_lost_result_is_a_liveness_anomaly_on_a_lossy_network_and_a_violation_when_slow() -> None:
    events = correct_chord_events()[:4]  # the header ran, the body never did
    timeout = ClientView("TIMEOUT", elapsed=20.0)
    lossy = _verdict(events, RESET, "acks-early", timeout)
    assert lossy["verdict"] == "pass"
    assert {a["property"] for a in lossy["anomalies"]} == {"liveness", "at_least_once"}
    slow = _verdict(events, LATENCY, "acks-early", timeout)
    assert slow["verdict"] == "violation"
    assert {x["check"] for x in slow["violations"]} == {"liveness", "executions"}


def test_worker_lost_is_an_allowed_outcome_unless_the_task_is_requeued() -> None:
    events = [event("start", "$.chord.header[0]", 1, ["a"]), *correct_chord_events()[1:4:2]]
    lost = ClientView("FAILURE", error="WorkerLostError", message="Worker exited prematurely")
    assert _verdict(events, CHILD, "acks-late", lost)["verdict"] == "pass"
    requeued = _verdict(events, CHILD, "acks-late-reject", lost)
    assert requeued["verdict"] == "violation"
    assert "outcome" in {x["check"] for x in requeued["violations"]}


def test_a_wrong_value_is_a_violation_whatever_the_fault() -> None:
    wrong = ClientView("SUCCESS", [[["b"], ["a"]], "z"])
    v = _verdict(correct_chord_events(), RESET, "acks-early", wrong)
    assert v["verdict"] == "violation" and v["violations"][0]["check"] == "outcome"


def test_a_faulted_history_survives_json_and_checks_the_same() -> None:
    h = _faulted(_redelivered_header(), KILL, "acks-late")
    again = History.from_json(h.to_json())
    assert again == h
    assert check(chord_prediction(), again).to_json() == check(chord_prediction(), h).to_json()


def test_a_fault_the_nemesis_could_not_heal_makes_the_run_unknown() -> None:
    h = replace(_faulted(correct_chord_events(), KILL, "acks-late"),
                harness_errors=("fault 0 (kill_worker w0): HarnessError: restart failed",))
    assert check(chord_prediction(), h).verdict == "unknown"


def test_a_worker_that_exits_by_itself_is_a_violation_under_any_fault() -> None:
    h = replace(_faulted(correct_chord_events(), RESET, "acks-early"),
                worker_exits=("worker w1@127.0.0.1 exited by itself: Unrecoverable error: OSError()",))
    v = check(chord_prediction(), h).to_json()
    assert v["verdict"] == "violation" and v["violations"][0]["check"] == "worker-exit"


def test_an_errback_without_the_failed_tasks_id_is_a_violation_under_any_fault() -> None:
    def verdict(events: list[Event]) -> dict[str, Any]:
        history = replace(errback_history(events), faults=LATENCY.to_json(), delivery="acks-late")
        return check(errback_prediction(), history).to_json()

    assert verdict(errback_events())["verdict"] == "pass"
    found = verdict(errback_events(old_args=["eb"]))
    assert found["verdict"] == "violation"
    assert {(v["check"], v["node"]) for v in found["violations"]} == {
        ("inputs", "$.chord.header[0].link_error"), ("results", "$.chord.header[0].link_error")}
