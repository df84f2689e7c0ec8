"""Where task messages are when a run ends unresolved: in a queue, in the Redis transport's
unacknowledged hash (a worker holds it; the visibility timeout restores it), or nowhere.

Read over the harness's direct links, after every fault has healed, so the answer is the
servers', not a proxy's.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery

UNACKED = "unacked"  # kombu's Redis transport: delivery tag -> [message, exchange, routing key]
MAX_MESSAGES = 100_000


def message_ids(client: redis.Redis) -> set[str]:
    """Task ids of every message in a queue (any list key) or unacknowledged, read in one
    transaction so that a message moving from a queue to the unacked hash is seen once."""
    lists = [key for key in client.scan_iter(count=1000) if client.type(key) in (b"list", "list")]
    pipe = client.pipeline(transaction=True)
    for key in lists:
        pipe.lrange(key, 0, MAX_MESSAGES)
    pipe.hvals(UNACKED)
    *queued, unacked = pipe.execute()
    items = [m for q in queued for m in q] + [_unwrap(v) for v in unacked]
    return {task_id for task_id in map(_task_id, items) if task_id}


def _unwrap(value: bytes | str) -> Any:
    try:
        return json.loads(value)[0]
    except (ValueError, IndexError, KeyError, TypeError):
        return None


def _task_id(item: Any) -> str | None:
    try:
        message = json.loads(item) if isinstance(item, bytes | str) else item
        headers = message.get("headers") or {}
        return headers.get("id") or (message.get("properties") or {}).get("correlation_id")
    except (ValueError, AttributeError):
        return None


def probe(broker_url: str, app: Celery, task_ids: list[str], timeout: float = 5.0) -> dict[str, Any]:
    """``{"messages": [ids in the broker], "states": {id: stored state}}``, or ``{"error": why}``."""
    try:
        client = redis.Redis.from_url(broker_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            ids = message_ids(client)
        finally:
            client.close()
        states = {t: str(app.AsyncResult(t).state) for t in task_ids}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"messages": sorted(ids), "states": states}


def merge_probes(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two probes a moment apart: a message seen in either was not lost (one moving between a
    worker's BRPOP and its unacked hash is in neither for a few milliseconds)."""
    error = earlier.get("error") or later.get("error")
    if error is not None:
        return {"error": error}
    return {"messages": sorted(set(earlier["messages"]) | set(later["messages"])),
            "states": later["states"]}
