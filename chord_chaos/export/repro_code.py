"""``repro.py``: the app the run used, its canvas as Celery code, and a check of the outcome.

The module is both the worker's app (``celery -A repro worker``) and the script that applies
the canvas (``python repro.py``): the worker and the client then share one configuration, the
one the reported run had. ``canvas = ...``, ``args``, ``kwargs`` and the canvas's own settings
(``app.conf.X = ...``) are written so that ``python_code.from_python`` reads the canvas back.
The script exits 1 when the outcome differs from what Celery should do (the bug reproduces),
0 when it matches, and 2 when it could not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chord_chaos.export.fault_steps import NO_STEPS, FaultSteps
from chord_chaos.models.canvas import Task, Workload, walk
from chord_chaos.models.python_code import LINKED, expression

GET_TIMEOUT = 30.0  # seconds get() waits; a run that has not resolved by then "hangs"


@dataclass(frozen=True)
class Case:
    """What repro.py needs from a report: the canvas, the outcome Celery should give and the
    one chord-chaos saw, and every setting the run's workers had."""

    workload: Workload
    expected: dict[str, Any]  # status and value, or the acceptable errors
    observed: dict[str, Any]  # status and value or error
    backend: str  # redis | database
    source: str  # the report it came from
    broker: str = "redis"  # redis | rabbitmq
    database: str | None = None  # postgres: the database backend ran on PostgreSQL
    settings: dict[str, Any] = field(default_factory=dict)  # chord-chaos's cluster settings
    delivery: dict[str, Any] = field(default_factory=dict)  # the delivery configuration's
    user_settings: dict[str, Any] = field(default_factory=dict)  # --config
    faults: FaultSteps = NO_STEPS
    exceptions_allowed: bool = False  # the faults excuse a fault-induced failure
    hang_allowed: bool = False  # the faults excuse a get() that never returns
    replay: str = ""  # the chord-chaos command that applies faults plain tools cannot

    @property
    def ops(self) -> set[str]:
        return {node.op for _, node in walk(self.workload.canvas) if isinstance(node, Task)}


def _update(settings: dict[str, Any], why: str) -> list[str]:
    if not settings:
        return []
    body = "".join(f"    {k}={v!r},\n" for k, v in settings.items())
    return [f"# {why}", f"app.conf.update(\n{body})"]


def urls(case: Case) -> tuple[str, str]:
    """Default broker and backend URLs: one redis-server, or one per role when a fault hits one."""
    broker = ("amqp://guest:guest@127.0.0.1:5672//" if case.broker == "rabbitmq"
              else "redis://127.0.0.1:6379/0")
    if case.database == "postgres":
        return broker, "db+postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if case.backend == "database":
        return broker, "db+sqlite:///results.sqlite"
    return broker, ("redis://127.0.0.1:6380/0" if case.faults.redis_faults else "redis://127.0.0.1:6379/1")


def repro_py(case: Case) -> str:
    broker, backend = urls(case)
    ops = sorted(case.ops)
    fault_names = [f"fault_{i + 1}" for i in range(len(case.faults.functions))]
    lines = [
        f'"""A chord-chaos finding as plain Celery (exported from {case.source}).',
        "",
        "Worker: celery -A repro worker --concurrency 2      Script: python repro.py",
        "Exits 1 when the bug reproduces (the outcome differs from what Celery should do), 0 when",
        'it does not, 2 when it could not run. README.md says how to start redis-server."""',
        "",
        "import json",
        "import os",
        "import signal",
        *(["import subprocess"] if case.faults.code else []),
        "import sys",
        "import threading",
        "import time",
        *(["from urllib.parse import urlparse"] if case.faults.code else []),
        "",
        "from celery import Celery, chain, chord, group",
        "",
        "HERE = os.path.dirname(os.path.abspath(__file__))",
        "sys.path.insert(0, HERE)",
        f'BROKER_URL = os.environ.get("REPRO_BROKER_URL", {broker!r})',
        f'BACKEND_URL = os.environ.get("REPRO_BACKEND_URL", {backend!r})',
        "",
        'app = Celery("repro", broker=BROKER_URL, backend=BACKEND_URL)',
        *_update(case.settings, "chord-chaos's cluster settings (shorter chord timeouts; Celery's "
                                "defaults show the same bug, more slowly)"),
        *_update(case.delivery, "the delivery configuration of the run"),
        *_update(case.user_settings, "the run's own settings (--config)"),
        *[f"app.conf.{k} = {v!r}" for k, v in case.workload.config.items()],
        "",
        f"from tasks import {', '.join(ops)}  # noqa: E402  (shared tasks: they join this app)",
        "",
    ]
    if "linked" in expression(case.workload.canvas):
        lines += ["", LINKED]
    lines += [
        f"canvas = {expression(case.workload.canvas)}",
        f"args = {tuple(case.workload.args)!r}",
        f"kwargs = {dict(case.workload.kwargs)!r}",
        "",
        "# What Celery should return (chord-chaos's model of the canvas guide), and what it did",
        f"EXPECTED = {case.expected!r}",
        f"OBSERVED_BY_CHORD_CHAOS = {case.observed!r}",
        f"HANG_ALLOWED = {case.hang_allowed!r}  # the faults excuse a result that never resolves",
        f"FAULT_FAILURE_ALLOWED = {case.exceptions_allowed!r}  # and a fault-induced failure",
        f"GET_TIMEOUT = float(os.environ.get(\"REPRO_GET_TIMEOUT\", {GET_TIMEOUT!r}))",
        "T0 = [0.0]",
    ]
    if case.faults.code:
        lines.append(case.faults.code.rstrip("\n"))
    if case.faults.commented:
        lines += ["", "", "# Faults plain tools cannot apply (they need a proxy on the links); to apply",
                  f"# them, use chord-chaos: {case.replay}"]
        lines += [f"#   - {c}" for c in case.faults.commented]
    lines += ["", "", MAIN.format(faults=repr(fault_names).replace("'", ""))]
    return "\n".join(lines)


MAIN = '''class Overdue(Exception):
    """get() outlived its own timeout: a nested group's join waits without one."""


def outcome(result):
    """get() in the main thread (Celery's Redis result consumer does not serve other threads),
    bounded by a timer, since a nested group's join can wait without a timeout."""
    def overdue(signum, frame):
        raise Overdue

    signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, GET_TIMEOUT + 2)
    try:
        return {{"status": "SUCCESS", "value": result.get(timeout=GET_TIMEOUT, propagate=True)}}
    except Overdue:
        return {{"status": "TIMEOUT"}}
    except Exception as exc:  # noqa: BLE001  (the failure is the outcome)
        if type(exc).__name__ == "TimeoutError" and "celery" in type(exc).__module__:
            return {{"status": "TIMEOUT"}}
        return {{"status": "FAILURE", "error": type(exc).__name__, "message": str(exc)[:200]}}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def unsubscribe():
    """Drop the result subscriptions now: a result freed at interpreter exit unsubscribes
    through a connection that may be gone (a restarted server), and prints a traceback that is
    not the bug."""
    consumer = getattr(app.backend, "result_consumer", None)
    if isinstance(getattr(consumer, "subscribed_to", None), set):
        consumer.subscribed_to.clear()
    if getattr(consumer, "_pubsub", None) is not None:
        try:
            consumer._pubsub.close()
        except Exception:  # noqa: BLE001  (closing a connection to a server that is gone)
            pass
        consumer._pubsub = None


def as_expected(seen):
    if seen["status"] == "TIMEOUT":
        return HANG_ALLOWED
    if seen["status"] == "FAILURE" and FAULT_FAILURE_ALLOWED:
        return True
    if seen["status"] != EXPECTED["status"]:
        return False
    if seen["status"] == "SUCCESS":
        return json.loads(json.dumps(seen["value"])) == EXPECTED["value"]
    return seen["error"] in EXPECTED["acceptable_errors"]


def worker_ready(within=30.0):
    """Whether a worker answers a ping within `within` s (it may still be starting)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if app.control.inspect(timeout=1.0).ping():
            return True
    return False


def main():
    try:
        if not worker_ready():
            print("no worker answered within 30 s: start one first (see README.md)", file=sys.stderr)
            return 2
    except Exception as exc:  # noqa: BLE001
        print(f"cannot reach the broker at {{BROKER_URL}}: {{exc}} (see README.md)", file=sys.stderr)
        return 2
    T0[0] = time.monotonic()
    result = canvas.apply_async(args=args, kwargs=kwargs)
    steps = [threading.Thread(target=step, daemon=True) for step in {faults}]
    for step in steps:
        step.start()
    seen = outcome(result)
    del result
    unsubscribe()
    for step in steps:
        step.join(GET_TIMEOUT)
    if "stop_started" in globals():
        stop_started()
    shown = {{k: v for k, v in seen.items() if k != "message"}}
    print(f"expected: {{json.dumps(EXPECTED)}}")
    print(f"observed: {{json.dumps(shown)}}" + (f" ({{seen['message']}})" if seen.get("message") else ""))
    if as_expected(seen):
        print("as expected: the bug did not reproduce")
        return 0
    print("BUG REPRODUCED: the outcome differs from what Celery should do")
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        if "stop_started" in globals():
            stop_started()
        print("interrupted", file=sys.stderr)
        sys.exit(130)
'''
