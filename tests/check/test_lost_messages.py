"""The lost-message rule on hand-written delivery records and broker probes."""

from __future__ import annotations

from chord_chaos.check.events import Event
from chord_chaos.check.lost_messages import lost_messages


def _ev(kind: str, task_id: str, attempt: int = 0, node: str = "$.a", mono: int = 0) -> Event:
    return Event.from_json({"ev": kind, "run": "r1", "node": node, "task_id": task_id,
                            "attempt": attempt, "hostname": "w0", "pid": 1, "t": 0.0, "mono": mono})


def test_a_message_published_never_received_nowhere_in_the_broker_and_pending_is_lost() -> None:
    records = (_ev("publish", "a"), _ev("receive", "a"), _ev("publish", "b", node="$.b", mono=1))
    lost = lost_messages(records, {"messages": [], "states": {"b": "PENDING"}})
    assert [(e.task_id, e.node) for e in lost] == [("b", "$.b")]


def test_a_message_still_in_the_broker_or_with_a_stored_state_is_not_lost() -> None:
    records = (_ev("publish", "b"),)
    assert lost_messages(records, {"messages": ["b"], "states": {"b": "PENDING"}}) == []
    assert lost_messages(records, {"messages": [], "states": {"b": "FAILURE"}}) == []
    assert lost_messages(records, {"messages": [], "states": {}}) == []


def test_a_retry_is_judged_by_its_last_attempt() -> None:
    first = (_ev("publish", "t"), _ev("receive", "t"), _ev("publish", "t", attempt=1, mono=2))
    # the retry message (attempt 1) vanished; the task's RETRY state is the first attempt's
    assert [e.attempt for e in lost_messages(first, {"messages": [], "states": {"t": "RETRY"}})] == [1]
    received = (*first, _ev("receive", "t", attempt=1, mono=3))
    assert lost_messages(received, {"messages": [], "states": {"t": "RETRY"}}) == []
    # an attempt 0 in RETRY state did run: it stored that state
    assert lost_messages((_ev("publish", "u"),), {"messages": [], "states": {"u": "RETRY"}}) == []


def test_no_broker_reading_is_no_evidence() -> None:
    records = (_ev("publish", "b"),)
    assert lost_messages(records, {"error": "ConnectionError: refused"}) == []
    assert lost_messages(records, {}) == []
