"""Checks and the checker on hand-written histories: no cluster needed."""

from __future__ import annotations

from chord_chaos.check.exact import (
    check_executions,
    check_inputs,
    check_order,
    check_outcome,
    check_results,
    check_unfinished,
)
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.verdict import check
from tests.helpers import (
    chord_history,
    chord_prediction,
    correct_chord_events,
    errback_events,
    errback_history,
    errback_prediction,
    event,
)


def test_a_correct_history_passes() -> None:
    verdict = check(chord_prediction(), chord_history(correct_chord_events()))
    assert verdict.verdict == "pass", verdict.to_json()


def test_body_run_twice_is_an_exactly_once_violation() -> None:
    events = [*correct_chord_events(),
              event("start", "$.chord.body", 7, [[["a"], ["b"]], "z"], pid=3),
              event("end", "$.chord.body", 8, outcome={"ok": [[["a"], ["b"]], "z"]}, pid=3)]
    found = check_executions(chord_prediction(), chord_history(events))
    assert [v.message for v in found] == ["$.chord.body ran 2 time(s); expected 1"]
    assert check(chord_prediction(), chord_history(events)).verdict == "violation"


def test_body_starting_before_a_header_task_ended_is_an_order_violation() -> None:
    events = correct_chord_events()
    events[4] = event("start", "$.chord.body", 2, [[["a"], ["b"]], "z"])
    found = check_order(chord_prediction(), chord_history(events))
    assert {v.node for v in found} == {"$.chord.body"}
    assert any("before $.chord.header[1] finished" in v.message for v in found)


def test_reordered_body_input_is_an_inputs_violation() -> None:
    events = correct_chord_events()
    events[4] = event("start", "$.chord.body", 5, [[["b"], ["a"]], "z"])
    found = check_inputs(chord_prediction(), chord_history(events))
    assert len(found) == 1 and found[0].node == "$.chord.body"


def test_wrong_value_and_wrong_exception_are_outcome_violations() -> None:
    wrong = ClientView("SUCCESS", [["a"]])
    assert check_outcome(chord_prediction(), chord_history(correct_chord_events(), wrong))
    raised = ClientView("FAILURE", error="KeyError", message="x")
    assert "get() raised KeyError" in check_outcome(chord_prediction(),
                                                    chord_history(correct_chord_events(), raised))[0].message


def test_a_started_but_never_finished_task_is_reported() -> None:
    events = [e for e in correct_chord_events() if not (e.kind == "end" and e.node == "$.chord.body")]
    assert [v.node for v in check_unfinished(chord_prediction(), chord_history(events))] == ["$.chord.body"]


def test_a_timeout_is_a_liveness_violation_not_a_pass() -> None:
    verdict = check(chord_prediction(), chord_history([], ClientView("TIMEOUT")))
    assert verdict.verdict == "violation"
    assert any(v.check == "liveness" for v in verdict.violations)


def test_a_harness_failure_is_unknown_never_a_pass() -> None:
    verdict = check(chord_prediction(), chord_history(correct_chord_events(), errors=("worker w1 died",)))
    assert verdict.verdict == "unknown"
    assert verdict.reasons == ("worker w1 died",)


def test_history_round_trips_through_json() -> None:
    history = chord_history(correct_chord_events())
    again = History.from_json(history.to_json())
    assert again == history
    assert check(chord_prediction(), again).verdict == "pass"


def test_errbacks_called_with_the_failed_tasks_id_pass() -> None:
    verdict = check(errback_prediction(), errback_history(errback_events()))
    assert verdict.verdict == "pass", verdict.to_json()


def test_an_old_style_errback_called_without_the_id_is_an_inputs_and_results_violation() -> None:
    history = errback_history(errback_events(old_args=["eb"]))
    (found,) = check_inputs(errback_prediction(), history)
    assert found.node == "$.chord.header[0].link_error"
    assert found.message == ('$.chord.header[0].link_error received [["eb"], {}]; expected '
                             '[["h0-id", "eb"], {}]')
    (result,) = check_results(errback_prediction(), history)
    assert result.node == "$.chord.header[0].link_error"
    assert check(errback_prediction(), history).verdict == "violation"


def test_an_old_style_errback_called_with_another_tasks_id_is_a_violation() -> None:
    history = errback_history(errback_events(old_args=["h1-id", "eb"]))
    assert [v.node for v in check_inputs(errback_prediction(), history)] == [
        "$.chord.header[0].link_error"]


def test_a_new_style_errbacks_request_must_be_the_failed_tasks() -> None:
    for wrong in (["h0-id", "ExpectedException"], [None, "ExpectedException"],
                  ["h1-id", "ChordError"]):
        found = check_inputs(errback_prediction(), errback_history(errback_events(new_args=wrong)))
        assert [v.node for v in found] == ["$.chord.header[1].link_error"], wrong


def test_the_id_of_a_body_that_never_ran_is_checked_for_shape_only() -> None:
    # chord_error_from_stack passes the body's frozen id; no ledger event carries it
    ok = errback_history(errback_events(chord_args=["any-id", "ceb"]))
    assert check_inputs(errback_prediction(), ok) == []
    for wrong in (["ceb"], ["any-id"], [None, "ceb"], ["any-id", "ceb", "more"]):
        found = check_inputs(errback_prediction(), errback_history(errback_events(chord_args=wrong)))
        assert [v.node for v in found] == ["$.link_error"], wrong
        assert "<task id of $.chord.body, which never runs>" in found[0].message
