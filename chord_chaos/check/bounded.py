"""Checks for a run under faults: the model's exact predictions become bounds.

Each check returns ``(property, Violation)`` pairs. ``safety`` findings are violations under
every configuration; a finding of any other property (``liveness``, ``at_most_once``, ...) is
a violation only where ``models/guarantees.py`` says Celery promises that property for the
run's delivery configuration and faults, and an anomaly otherwise. Findings carry the
fault-free checks' names. The verdict then offers the violations to the known-issues register
as it does for a fault-free run; an entry recognises one only by its own matcher (its check,
node and the run's evidence), so a deviation under faults is excused only where that matcher
says so, never because its name matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from chord_chaos.check.events import executions_by_node
from chord_chaos.check.exact import (
    Violation,
    check_outcome,
    check_unfinished,
    dump_json,
    is_final,
    start_end_times,
)
from chord_chaos.check.history import History
from chord_chaos.check.redelivery import redelivery
from chord_chaos.check.resolve import Expected, expect, ledger_task_ids
from chord_chaos.models.semantics import Prediction
from chord_chaos.models.vocabulary import CheckName

SAFETY = "safety"
Finding = tuple[str, Violation]


def liveness(p: Prediction, h: History) -> list[Finding]:
    if h.client.status == "TIMEOUT":
        return [("liveness", Violation(CheckName.LIVENESS, "the result did not resolve within "
                                       f"{h.timeout:g} s (the fault window plus the recovery window)"))]
    return []


def outcome(p: Prediction, h: History) -> list[Finding]:
    """A wrong value is never allowed; a failure the model does not predict may be the fault's."""
    c = h.client
    if c.status == "TIMEOUT":
        return []
    found = check_outcome(p, h)
    if c.status == "SUCCESS":
        return [(SAFETY, v) for v in found]
    return [("exact_outcome", v) for v in found]


def executions(p: Prediction, h: History) -> list[Finding]:
    """More runs than predicted breaks at-most-once, fewer breaks at-least-once."""
    seen = executions_by_node(h.events)
    out: list[Finding] = []
    for node, expected in p.executions.items():
        got = seen.get(node, 0)
        if got == expected:
            continue
        prop = "at_most_once" if got > expected else "at_least_once"
        if expected == 0 and not node.endswith("link_error"):
            prop = SAFETY  # it must not run at all: faults cannot make a failed task succeed
        elif expected == 0:
            prop = "exact_outcome"  # an errback run for a fault-induced failure
        out.append((prop, Violation(CheckName.EXECUTIONS, f"{node} ran {got} time(s); expected {expected}",
                                    node, expected=expected, observed=got)))
    for node in sorted(set(seen) - set(p.executions)):
        out.append((SAFETY, Violation(CheckName.EXECUTIONS, f"unknown node {node} ran in this run", node)))
    return out


def unfinished(p: Prediction, h: History) -> list[Finding]:
    return [("finished", v) for v in check_unfinished(p, h)]


def inputs(p: Prediction, h: History) -> list[Finding]:
    """Every execution received one of the predicted inputs, whatever the number of executions."""
    out: list[Finding] = []
    ids = ledger_task_ids(h.events)
    for node, calls in p.calls.items():
        allowed = _allowed((dump_json([c.args, c.kwargs]) for c in calls if c.args is not None), ids)
        if not allowed:
            continue
        for e in h.events:
            got = dump_json([e.args, e.kwargs])
            if e.kind == "start" and e.node == node and not any(a.matches(got) for a in allowed):
                shown = [a.text for a in allowed]
                out.append((SAFETY, Violation(
                    CheckName.INPUTS, f"{node} received {got}; expected one of {', '.join(shown)}",
                    node, expected=[json.loads(a) for a in shown], observed=json.loads(got))))
    return _unique(out)


def _allowed(dumps: Iterable[str], ids: dict[str, str]) -> list[Expected]:
    """The distinct predicted dumps, sorted, their markers resolved against the ledger."""
    return [expect(d, ids) for d in sorted(set(dumps))]


def results(p: Prediction, h: History) -> list[Finding]:
    """Every finished execution produced one of the predicted results."""
    out: list[Finding] = []
    ids = ledger_task_ids(h.events)
    for node, calls in p.calls.items():
        allowed = _allowed((dump_json(c.result) for c in calls if c.result is not None), ids)
        if not allowed:
            continue
        for e in h.events:
            if e.kind == "end" and e.node == node and is_final(e.outcome):
                got = dump_json(e.outcome)
                if not any(a.matches(got) for a in allowed) and "error" not in (e.outcome or {}):
                    shown = [a.text for a in allowed]
                    out.append((SAFETY, Violation(
                        CheckName.RESULTS, f"{node} produced {got}; expected {' or '.join(shown)}",
                        node, expected=[json.loads(a) for a in shown],
                        observed=json.loads(got))))
    return out


def order(p: Prediction, h: History) -> list[Finding]:
    """Nothing starts before one finished execution of each predecessor (a body, its header)."""
    first_start, first_end = start_end_times(h.events, last=False)
    out: list[Finding] = []
    for before, after in p.happens_before:
        if after not in first_start:
            continue
        if before not in first_end:
            out.append((SAFETY, Violation(CheckName.ORDER, f"{after} started although {before} never "
                                                   "finished", after)))
        elif first_start[after] < first_end[before]:
            gap = (first_end[before] - first_start[after]) / 1e6
            out.append((SAFETY, Violation(CheckName.ORDER, f"{after} started {gap:.1f} ms before {before} "
                                                   "first finished", after)))
    return out


def _unique(found: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for prop, v in found:
        if (prop, v.message) not in seen:
            seen.add((prop, v.message))
            out.append((prop, v))
    return out


def worker_exits(p: Prediction, h: History) -> list[Finding]:
    """A worker never exits by itself: Celery reconnects after a lost broker connection
    (``broker_connection_retry``), and the nemesis restarts every worker it stops."""
    return [(SAFETY, Violation(CheckName.WORKER_EXIT, message)) for message in h.worker_exits]


FAULT_CHECKS: tuple[Callable[[Prediction, History], list[Finding]], ...] = (
    liveness, outcome, executions, unfinished, inputs, results, order, worker_exits, redelivery,
)
