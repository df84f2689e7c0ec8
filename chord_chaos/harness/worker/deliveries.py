"""Delivery records, inside every worker: which task messages were sent and which reached a pool
process, the evidence that a message vanished between the broker and a worker rather than
never being sent (``check/lost_messages.py`` reads it).

Workers record, beside the execution ledger, one ``publish`` line per task message they send
(chain steps, chord bodies, ``chord_unlock`` and retries) and one ``receive`` line per message
a pool process starts (``task_prerun``), keyed by task id and retry count. The client's own
publishes are collected by ``harness/run/delivery_records.py`` with the same ``published``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import signals

from chord_chaos.harness.worker import ledger

SUBDIR = "deliveries"  # under the ledger directory; the execution ledger's readers never see it
_DEPTH = 6


def find_cc(args: Any, kwargs: Any) -> dict[str, str] | None:
    """The ``cc`` marker of a message: the task's own, or (for ``chord_unlock`` and other
    Celery tasks) the first one in its arguments, which name the callback it will apply."""
    if isinstance(kwargs, dict) and _is_cc(kwargs.get("cc")):
        return dict(kwargs["cc"])
    return _search(args, _DEPTH) or _search(kwargs, _DEPTH)


def _is_cc(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("run"), str)
            and isinstance(value.get("node"), str))


def _search(value: Any, depth: int) -> dict[str, str] | None:
    if depth <= 0:
        return None
    if isinstance(value, dict):
        if _is_cc(value.get("cc")):
            return dict(value["cc"])
        values: Any = value.values()
    elif isinstance(value, list | tuple):
        values = value
    else:
        return None
    for v in values:
        found = _search(v, depth - 1)
        if found is not None:
            return found
    return None


def label(task: str, cc: dict[str, str]) -> str:
    """The node a message is for: its canvas node, or ``chord_unlock`` naming the body it applies."""
    return cc["node"] if task.startswith("cc.") else f"{task}({cc['node']})"


def _record(ev: str, task: str, task_id: str | None, attempt: int, cc: dict[str, str]) -> dict[str, Any]:
    return {"ev": ev, "run": cc["run"], "node": label(task, cc), "task_id": task_id,
            "attempt": attempt, "hostname": os.environ.get("CC_NODE_NAME") or socket.gethostname()}


def _body_parts(body: Any) -> tuple[Any, Any]:
    """(args, kwargs) of a protocol 2 message body."""
    if isinstance(body, list | tuple) and len(body) >= 2:
        return body[0], body[1]
    return (), {}


def published(sender: Any, body: Any, headers: Any) -> dict[str, Any] | None:
    """The publish record of an ``after_task_publish`` signal, or None for a message of no run."""
    headers = headers or {}
    cc = find_cc(*_body_parts(body))
    if cc is None:
        return None
    return _record("publish", str(sender), headers.get("id"), int(headers.get("retries") or 0), cc)


def _on_publish(sender: Any = None, body: Any = None, headers: Any = None, **_: Any) -> None:
    record = published(sender, body, headers)
    if record is not None:
        ledger.record(_dir(), record)


def _on_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, args: Any = None,
               kwargs: Any = None, **_: Any) -> None:
    cc = find_cc(args, kwargs)
    if cc is not None and task is not None:
        ledger.record(_dir(), _record("receive", str(task.name), task_id,
                                      int(getattr(task.request, "retries", 0) or 0), cc))


def _dir() -> str:
    return os.path.join(ledger.worker_dir(), SUBDIR)


def record_in_workers() -> None:
    """Connected at worker start (``worker_init``), so the pool processes inherit it and the
    client, which never starts a worker, records nothing here."""
    signals.after_task_publish.connect(_on_publish, weak=False)
    signals.task_prerun.connect(_on_prerun, weak=False)
