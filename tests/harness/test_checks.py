"""Checks and the checker on hand-written histories: no cluster needed."""

from __future__ import annotations

from typing import Any

from chord_chaos.harness.checker import check
from chord_chaos.harness.checks import (
    check_executions,
    check_inputs,
    check_order,
    check_outcome,
    check_unfinished,
)
from chord_chaos.harness.history import ClientView, History
from chord_chaos.harness.ledger import Event
from chord_chaos.models.canvas import parse_workload, workload_to_json
from chord_chaos.models.semantics import Prediction, predict

CHORD: dict[str, Any] = {"chord": {"header": [{"task": "tag", "args": ["a"]},
                                              {"task": "tag", "args": ["b"]}],
                                   "body": {"task": "tag", "args": ["z"]}}}


def _ev(kind: str, node: str, mono: int, args: list[Any] | None = None,
        outcome: dict[str, Any] | None = None, pid: int = 1) -> Event:
    return Event(kind=kind, run="r", node=node, task_id=None, attempt=0, hostname="w",
                 pid=pid, t=0.0, mono=mono, args=args or [], kwargs={}, outcome=outcome)


def _correct_events() -> list[Event]:
    return [
        _ev("start", "$.chord.header[0]", 1, ["a"]),
        _ev("start", "$.chord.header[1]", 2, ["b"], pid=2),
        _ev("end", "$.chord.header[0]", 3, outcome={"ok": ["a"]}),
        _ev("end", "$.chord.header[1]", 4, outcome={"ok": ["b"]}, pid=2),
        _ev("start", "$.chord.body", 5, [[["a"], ["b"]], "z"]),
        _ev("end", "$.chord.body", 6, outcome={"ok": [[["a"], ["b"]], "z"]}),
    ]


def _history(events: list[Event], client: ClientView | None = None,
             errors: tuple[str, ...] = ()) -> History:
    workload = parse_workload(CHORD)
    return History(run="r", workload=workload_to_json(workload), backend="redis",
                   client=client or ClientView("SUCCESS", [[["a"], ["b"]], "z"]),
                   events=tuple(events), timeout=5.0, harness_errors=errors)


def _prediction() -> Prediction:
    return predict(parse_workload(CHORD))


def test_a_correct_history_passes() -> None:
    verdict = check(_prediction(), _history(_correct_events()))
    assert verdict.verdict == "pass", verdict.to_json()


def test_body_run_twice_is_an_exactly_once_violation() -> None:
    events = [*_correct_events(),
              _ev("start", "$.chord.body", 7, [[["a"], ["b"]], "z"], pid=3),
              _ev("end", "$.chord.body", 8, outcome={"ok": [[["a"], ["b"]], "z"]}, pid=3)]
    found = check_executions(_prediction(), _history(events))
    assert [v.message for v in found] == ["$.chord.body ran 2 time(s); expected 1"]
    assert check(_prediction(), _history(events)).verdict == "violation"


def test_body_starting_before_a_header_task_ended_is_an_order_violation() -> None:
    events = _correct_events()
    events[4] = _ev("start", "$.chord.body", 2, [[["a"], ["b"]], "z"])
    found = check_order(_prediction(), _history(events))
    assert {v.node for v in found} == {"$.chord.body"}
    assert any("before $.chord.header[1] finished" in v.message for v in found)


def test_reordered_body_input_is_an_inputs_violation() -> None:
    events = _correct_events()
    events[4] = _ev("start", "$.chord.body", 5, [[["b"], ["a"]], "z"])
    found = check_inputs(_prediction(), _history(events))
    assert len(found) == 1 and found[0].node == "$.chord.body"


def test_wrong_value_and_wrong_exception_are_outcome_violations() -> None:
    wrong = ClientView("SUCCESS", [["a"]])
    assert check_outcome(_prediction(), _history(_correct_events(), wrong))
    raised = ClientView("FAILURE", error="KeyError", message="x")
    assert "get() raised KeyError" in check_outcome(_prediction(),
                                                    _history(_correct_events(), raised))[0].message


def test_a_started_but_never_finished_task_is_reported() -> None:
    events = [e for e in _correct_events() if not (e.kind == "end" and e.node == "$.chord.body")]
    assert [v.node for v in check_unfinished(_prediction(), _history(events))] == ["$.chord.body"]


def test_a_timeout_is_a_liveness_violation_not_a_pass() -> None:
    verdict = check(_prediction(), _history([], ClientView("TIMEOUT")))
    assert verdict.verdict == "violation"
    assert any(v.check == "liveness" for v in verdict.violations)


def test_a_harness_failure_is_unknown_never_a_pass() -> None:
    verdict = check(_prediction(), _history(_correct_events(), errors=("worker w1 died",)))
    assert verdict.verdict == "unknown"
    assert verdict.reasons == ("worker w1 died",)


def test_history_round_trips_through_json() -> None:
    history = _history(_correct_events())
    again = History.from_json(history.to_json())
    assert again == history
    assert check(_prediction(), again).verdict == "pass"
