"""Delivery records in a worker: which canvas node a task message is for."""

from __future__ import annotations

from chord_chaos.harness.worker.deliveries import find_cc, label

CC = {"run": "r1", "node": "$.chord.header[0]"}


def test_a_task_message_is_its_own_node_and_chord_unlock_names_the_body_it_applies() -> None:
    assert find_cc([1, 2], {"cc": CC}) == CC
    body = {"task": "cc.tsum", "args": [], "kwargs": {"cc": {"run": "r1", "node": "$.chord.body"}}}
    unlock_args = ["group-id", body]
    cc = find_cc(unlock_args, {"interval": 0.1, "result": [["id", None]]})
    assert cc == {"run": "r1", "node": "$.chord.body"}
    assert label("celery.chord_unlock", cc) == "celery.chord_unlock($.chord.body)"
    assert label("cc.mul", CC) == "$.chord.header[0]"
    assert find_cc([1, {"x": [2]}], {"other": 1}) is None
    assert find_cc([], {"cc": {"run": 1}}) is None  # malformed marker
