"""A run's Celery settings in its verdict: the relaxed chord order still catches a lost or
duplicated header result, relaxed promises become anomalies, and unknown settings are named."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from chord_chaos.check.history import ClientView, History
from chord_chaos.check.verdict import check
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.semantics import predict
from tests.check.runs import ran

UNORDERED = {"result_backend_transport_options": {"result_chord_ordered": False}}
HEADER = [{"task": "tag", "args": ["a"]}, {"task": "tag", "args": ["b"]}, {"task": "tag", "args": ["c"]}]
CANVAS = {"chain": [{"chord": {"header": HEADER, "body": {"task": "tag", "args": ["x"]}}},
                    {"task": "tag", "args": ["y"]}]}
BODY, AFTER = "$.chain[0].chord.body", "$.chain[1]"


def _body_got(header_results: list[Any], settings: dict[str, Any] | None = UNORDERED,
              backend: str = "redis") -> History:
    """A run in which the body received ``header_results``, and everything after it followed."""
    body_value = [header_results, "x"]
    value = [body_value, "y"]
    _, h = ran(CANVAS, args={BODY: body_value, AFTER: [body_value, "y"]},
               results={BODY: {"ok": body_value}, AFTER: {"ok": value}},
               client=ClientView("SUCCESS", value), backend=backend,
               meta={"settings": settings} if settings else {})
    return h


def _verdict(h: History) -> Any:
    return check(predict(parse_workload(h.workload)), h)


def test_completion_order_passes_with_the_order_relaxed_and_says_so() -> None:
    v = _verdict(_body_got([["c"], ["a"], ["b"]]))
    assert v.verdict == "pass", v.to_json()
    assert [r.name for r in v.relaxed] == ["chord-order"]
    out = v.to_json()
    assert out["relaxed"][0]["setting"] == "result_backend_transport_options.result_chord_ordered=false"
    assert "relaxed: chord-order" in v.settings_note()


def test_the_same_order_is_a_violation_without_the_setting_or_on_the_database_backend() -> None:
    for h in (_body_got([["c"], ["a"], ["b"]], settings=None),
              _body_got([["c"], ["a"], ["b"]], backend="database")):
        v = _verdict(h)
        assert v.verdict == "violation"
        assert {x.check for x in v.violations} >= {"inputs", "outcome"}
        assert not v.relaxed


def test_a_lost_or_duplicated_header_result_stays_a_violation_with_the_order_relaxed() -> None:
    for wrong in ([["c"], ["a"]], [["c"], ["a"], ["a"]], [["c"], ["a"], ["b"], ["b"]],
                  [["c"], ["a"], ["z"]]):
        v = _verdict(_body_got(wrong))
        assert v.verdict == "violation", wrong
        inputs = [x for x in v.violations if x.check == "inputs" and x.node == BODY]
        assert inputs and '[["a"], ["b"], ["c"]]' in inputs[0].message, v.to_json()
        assert v.relaxed  # still named: the run was checked under it


def test_a_body_value_that_does_not_follow_from_its_input_stays_a_violation() -> None:
    body_value = [[["c"], ["a"], ["b"]], "x"]
    _, h = ran(CANVAS, args={BODY: body_value, AFTER: [body_value, "y"]},
               results={BODY: {"ok": [[["a"], ["b"], ["c"]], "x"]}, AFTER: {"ok": [body_value, "y"]}},
               client=ClientView("SUCCESS", [body_value, "y"]), meta={"settings": UNORDERED})
    v = _verdict(h)
    assert [(x.check, x.node) for x in v.violations] == [("results", BODY)]


def test_a_relaxed_property_is_an_anomaly_in_a_fault_free_run_and_the_rest_still_counts() -> None:
    settings = {"result_chord_join_timeout": 0.5}
    _, hung = ran(CANVAS, skip=(BODY, AFTER), meta={"settings": settings})  # get() timed out
    v = _verdict(hung)
    assert v.verdict == "pass", v.to_json()
    assert {prop for prop, _ in v.anomalies} == {"liveness", "at_least_once"}
    _, hung_plain = ran(CANVAS, skip=(BODY, AFTER))
    assert _verdict(hung_plain).verdict == "violation"
    # a wrong value is never excused
    _, wrong = ran(CANVAS, resolved=True, meta={"settings": settings},
                   results={AFTER: {"ok": "wrong"}})
    assert _verdict(wrong).verdict == "violation"


def test_a_short_visibility_timeout_excuses_a_duplicate_but_not_a_lost_task() -> None:
    settings = {"broker_transport_options": {"visibility_timeout": 1}}
    _, twice = ran(CANVAS, resolved=True, times={BODY: 2}, meta={"settings": settings})
    v = _verdict(twice)
    assert v.verdict == "pass" and [p for p, _ in v.anomalies] == ["at_most_once"], v.to_json()
    _, never = ran(CANVAS, resolved=True, skip=("$.chain[0].chord.header[1]",),
                   meta={"settings": settings})
    assert _verdict(never).verdict == "violation"


def test_under_faults_a_setting_weakens_the_delivery_configurations_promise() -> None:
    kill = {"faults": [{"kind": "kill_worker", "target": "w0", "at": 0.1, "duration": 0.5}]}
    long = {"broker_transport_options": {"visibility_timeout": 3600}}
    _, hung = ran(CANVAS, skip=(BODY, AFTER), faults=kill, delivery="acks-late")
    assert "liveness" in {x.check for x in _verdict(hung).violations}  # acks late promises it
    relaxed = replace(hung, meta={**hung.meta, "settings": long})
    v = _verdict(relaxed)
    assert v.verdict == "pass", v.to_json()
    assert "liveness" in {prop for prop, _ in v.anomalies}
    assert v.relaxed[0].name == "visibility"


def test_unmodelled_settings_are_named_in_the_verdict_and_its_json() -> None:
    settings = {"task_time_limit": 60, "broker_transport_options": {"max_connections": 3}}
    _, h = ran(CANVAS, resolved=True, meta={"settings": settings})
    v = _verdict(h)
    assert v.verdict == "pass"
    assert v.unmodelled == ("broker_transport_options.max_connections", "task_time_limit")
    assert json.loads(json.dumps(v.to_json()))["unmodelled_settings"] == list(v.unmodelled)
    assert v.settings_note() == "not modelled: broker_transport_options.max_connections, task_time_limit"
    plain = _verdict(ran(CANVAS, resolved=True)[1])
    assert "relaxed" not in plain.to_json() and "unmodelled_settings" not in plain.to_json()


def test_a_saved_history_is_rechecked_with_its_settings() -> None:
    h = _body_got([["b"], ["c"], ["a"]])
    again = History.from_json(json.loads(json.dumps(h.to_json())))
    assert _verdict(again).verdict == "pass" and _verdict(again).relaxed
