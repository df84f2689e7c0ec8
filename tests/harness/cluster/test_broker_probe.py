"""The broker probe reads queued and unacknowledged messages from a real redis-server."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from celery import Celery

from chord_chaos.harness.cluster.broker_probe import merge_probes, message_ids, probe
from chord_chaos.harness.infra.redis_server import RedisServer
from chord_chaos.harness.infra.supervisor import Supervisor


def _message(task_id: str) -> str:
    return json.dumps({"body": "", "headers": {"id": task_id, "task": "cc.tag"},
                       "properties": {"correlation_id": task_id, "delivery_tag": f"tag-{task_id}"}})


def test_queued_and_unacked_messages_are_found_and_nothing_else(sup: Supervisor, tmp_path: Path) -> None:
    server = RedisServer(sup, tmp_path, "broker").start()
    assert server.port is not None
    client = redis.Redis(port=server.port)
    client.lpush("celery", _message("queued-1"), _message("queued-2"))
    client.lpush("celery\x06\x163", _message("queued-priority"))
    client.hset("unacked", "tag-held", json.dumps([json.loads(_message("held")), "", "celery"]))
    client.sadd("_kombu.binding.celery", "celery\x06\x16\x06\x16celery")
    client.set("celery-task-meta-other", "{}")
    assert message_ids(client) == {"queued-1", "queued-2", "queued-priority", "held"}

    app = Celery("probe-test", broker=server.url(0), backend=server.url(1), set_as_current=False)
    try:
        found = probe(server.url(0), app, ["held", "nowhere"])
    finally:
        app.close()
    assert set(found["messages"]) == {"queued-1", "queued-2", "queued-priority", "held"}
    assert found["states"] == {"held": "PENDING", "nowhere": "PENDING"}


def test_an_unreachable_broker_is_an_error_not_an_empty_broker(sup: Supervisor, tmp_path: Path) -> None:
    server = RedisServer(sup, tmp_path, "broker").start()
    url = server.url(0)
    server.stop()
    app = Celery("probe-test", broker=url, backend=url, set_as_current=False)
    try:
        found = probe(url, app, ["x"], timeout=0.5)
    finally:
        app.close()
    assert "error" in found and "messages" not in found


def test_two_probes_merge_to_what_either_saw() -> None:
    merged = merge_probes({"messages": ["a"], "states": {"x": "PENDING"}},
                   {"messages": ["b"], "states": {"x": "SUCCESS"}})
    assert merged == {"messages": ["a", "b"], "states": {"x": "SUCCESS"}}
    assert merge_probes({"error": "down"}, {"messages": [], "states": {}}) == {"error": "down"}
