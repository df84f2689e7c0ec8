"""The Celery app and its instrumented tasks, one per op, shared by workers and the client.

Workers load it with ``celery -A chord_chaos.harness.worker.app worker``; everything that differs
per cluster comes from the environment (``CC_BROKER_URL``, ``CC_BACKEND_URL``,
``CC_LEDGER_DIR``), so one module serves every cluster. Each task writes a start and an
end event to the ledger around the pure op from ``chord_chaos.models.ops``; the reserved
keyword ``cc`` (``{"run": id, "node": id}``) says which canvas node an execution is. A worker
also records every message it sends and every one its pool starts (``deliveries.py``).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from celery import Celery, Task, signals

from chord_chaos.harness.worker import deliveries, latch, ledger
from chord_chaos.harness.worker.settings_env import over, user_settings
from chord_chaos.models.guarantees import DELIVERIES
from chord_chaos.models.ops import OPS
from chord_chaos.models.timeouts import CLUSTER_SETTINGS

# Settings that keep runs fast without changing semantics; each is documented in README.md. The
# chord timeouts are compressed (``models/timeouts.py``): chord_unlock polls every 0.1 s, and a
# chord's keys expire after a minute instead of a day.
SPEED_SETTINGS: dict[str, Any] = {
    **CLUSTER_SETTINGS,
    "worker_prefetch_multiplier": 1,  # a busy worker does not hoard ready messages
    "broker_connection_retry_on_startup": True,
    "worker_hijack_root_logger": False,
    "worker_send_task_events": False,
    "task_send_sent_event": False,
}


def _sqlite_wal() -> None:
    """SQLite in WAL mode with a busy timeout: many worker processes write results at once."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragma(dbapi_conn: Any, _record: Any) -> None:
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()


def _engine_options(backend_url: str) -> dict[str, Any]:
    """SQLite waits up to 30 s for a lock; PostgreSQL gives up connecting after 10 s (a
    restarted server answers again within a second)."""
    if backend_url.startswith("db+sqlite"):
        return {"connect_args": {"timeout": 30}}
    if backend_url.startswith("db+postgresql"):
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {}


def make_app(broker_url: str | None = None, backend_url: str | None = None,
             delivery: str | None = None) -> Celery:
    """``delivery`` (or CC_DELIVERY) names a configuration of ``models/guarantees.py``; without
    one, Celery's defaults apply and the broker transport is not tuned for worker kills. The
    user's settings (``--config``, in CC_CELERY_SETTINGS) are applied last, over all of these."""
    backend_url = backend_url or os.environ.get("CC_BACKEND_URL", "redis://127.0.0.1:6379/1")
    delivery = delivery or os.environ.get("CC_DELIVERY") or None
    if backend_url.startswith("db+sqlite"):
        _sqlite_wal()
    broker_url = broker_url or os.environ.get("CC_BROKER_URL", "redis://127.0.0.1:6379/0")
    app = Celery("chord_chaos")
    app.conf.update(
        broker_url=broker_url,
        result_backend=backend_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_extended=False,
        database_engine_options=_engine_options(backend_url),
        **SPEED_SETTINGS,
    )
    if delivery is not None:
        app.conf.update(DELIVERIES[delivery].celery_settings(
            "rabbitmq" if broker_url.startswith("amqp") else "redis"))
    settings = user_settings()
    if settings:
        app.conf.update(over({name: app.conf.get(name) for name in settings}, settings))
    _register(app)
    return app


def close_app(app: Celery) -> None:
    """Close a client app, first dropping its Redis result subscriptions: a result object that
    the garbage collector frees later (at interpreter exit, say) would otherwise unsubscribe
    through a connection to a server that is gone, and Celery prints "Retry limit exceeded"."""
    try:
        consumer = getattr(app.backend, "result_consumer", None)
    except Exception:  # a database backend connects when first made: never used, nothing to drop
        consumer = None
    subscribed = getattr(consumer, "subscribed_to", None)
    if isinstance(subscribed, set):
        subscribed.clear()
    pubsub = getattr(consumer, "_pubsub", None)
    if consumer is not None and pubsub is not None:
        # Celery before 5.5 unsubscribes through the pubsub connection even with nothing
        # subscribed, retrying for 20 s per result against the stopped server: drop it.
        with contextlib.suppress(Exception):
            pubsub.close()
        consumer._pubsub = None
    app.close()


def _begin(self: Task | None, op: str, cc: dict[str, Any], args: Any, kwargs: Any) -> dict[str, Any]:
    req = self.request if self is not None else None
    base = {
        "run": cc["run"],
        "node": cc["node"],
        "op": op,
        "task_id": getattr(req, "id", None),
        "attempt": getattr(req, "retries", 0) or 0,
        "hostname": getattr(req, "hostname", None) or os.environ.get("CC_NODE_NAME", ""),
        "redelivered": bool((getattr(req, "delivery_info", None) or {}).get("redelivered")),
    }
    ledger.record(ledger.worker_dir(), {**base, "ev": "start", "args": list(args), "kwargs": kwargs})
    return base


def _end(base: dict[str, Any], outcome: dict[str, Any]) -> None:
    ledger.record(ledger.worker_dir(), {**base, "ev": "end", "outcome": outcome})


def _make_task(app: Celery, op: str) -> None:
    fn = OPS[op]

    def run(self: Task, *args: Any, cc: dict[str, Any], **kwargs: Any) -> Any:
        base = _begin(self, op, cc, args, kwargs)
        latch.hold(base)
        try:
            value = fn(*args, **kwargs)
            if op == "sleep":
                time.sleep(float(args[0]))
            if op == "retry" and self.request.retries < int(args[0]):
                _end(base, {"retry": self.request.retries})
                raise self.retry(countdown=0, max_retries=int(args[0]))
        except Exception as exc:
            if type(exc).__name__ != "Retry":
                _end(base, {"error": type(exc).__name__})
            raise
        _end(base, {"ok": value})
        return value

    run.__name__ = op
    app.task(name=f"cc.{op}", bind=True, shared=False)(run)


def _register(app: Celery) -> None:
    for op in OPS:
        if op != "log_error":
            _make_task(app, op)

    # New-style errback: Celery calls it inline as (request, exc, traceback), so it must not
    # be bound (a bound task is treated as old-style and gets only the task id). Its ledger args
    # are what it received: the request's task id and the exception's class name.
    @app.task(name="cc.log_error", shared=False)
    def log_error(request: Any, exc: Any, traceback: Any, *, cc: dict[str, Any]) -> Any:
        value = OPS["log_error"](request, exc, traceback)
        base = _begin(None, "log_error", cc, [getattr(request, "id", None), value], {})
        _end(base, {"ok": value})
        return value


@signals.worker_init.connect(weak=False)
def _record_deliveries(**_: Any) -> None:
    deliveries.record_in_workers()


app = make_app()
