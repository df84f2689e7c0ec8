"""Histories of runs that went as the model predicts, except for a deviation planted on purpose.

The register's tests use them: an entry must explain its own deviation (planted as it shows on
real Celery) and nothing else in the same shape (a different deviation, planted the same way).
"""

from __future__ import annotations

from typing import Any

from chord_chaos.check.events import Event
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.verdict import Verdict, check
from chord_chaos.models.canvas import parse_workload, workload_to_json
from chord_chaos.models.semantics import Prediction, predict

CELERY = "5.7.0"  # the release every register entry was verified on
STEP_NS = 10_000_000  # 10 ms between ledger events


def task_id(node: str) -> str:
    return f"id{node}"


def ran(workload: object, *, skip: tuple[str, ...] = (), times: dict[str, int] | None = None,
        results: dict[str, dict[str, Any]] | None = None, args: dict[str, list[Any]] | None = None,
        client: ClientView | None = None, resolved: bool = False, backend: str = "redis",
        pids: dict[str, int] | None = None, **fields: Any) -> tuple[Prediction, History]:
    """Every predicted execution, with its predicted arguments and result, in the model's order
    of nodes, except: nodes under ``skip`` never run, ``times`` runs a node that many times,
    ``results``/``args`` replace what a node returned or received. get() timed out, unless
    ``resolved`` (as predicted) or ``client`` says otherwise; other History fields (states,
    nemesis, meta) come in ``fields``."""
    p = predict(parse_workload(workload))
    events: list[Event] = []
    for node, calls in p.calls.items():
        if node.startswith(skip) or not calls:
            continue
        call = calls[0]
        for _ in range((times or {}).get(node, sum(c.attempts for c in calls))):
            attempt = sum(e.node == node and e.kind == "start" for e in events)
            last = attempt == call.attempts - 1 or node in (times or {})
            outcome = (results or {}).get(node, call.result) if last else {"retry": attempt}
            given = (args or {}).get(node, list(call.args or []))
            pid = (pids or {}).get(node, 1)
            events.append(_event("start", node, len(events), attempt, pid, args=given))
            events.append(_event("end", node, len(events), attempt, pid, outcome=outcome))
    if resolved:
        client = (ClientView("SUCCESS", p.value) if p.status == "SUCCESS"
                  else ClientView("FAILURE", error=p.errors[0]))
    w = parse_workload(workload)
    h = History("r", workload_to_json(w), backend, client or ClientView("TIMEOUT"), tuple(events),
                5.0, celery=CELERY, meta={"t0_mono_ns": 0, **fields.pop("meta", {})}, **fields)
    return p, h


def _event(kind: str, node: str, i: int, attempt: int, pid: int, args: list[Any] | None = None,
           outcome: dict[str, Any] | None = None) -> Event:
    return Event(kind=kind, run="r", node=node, task_id=task_id(node), attempt=attempt, hostname="w",
                 pid=pid, t=0.0, mono=(i + 1) * STEP_NS, args=args or [], kwargs={}, outcome=outcome)


def verdict_of(p: Prediction, h: History) -> Verdict:
    return check(p, h)


def excused_by(v: Verdict) -> set[str]:
    return {k for k, _ in v.known}
