"""Checks: one pure function per guarantee, each ``(Prediction, History) -> [Violation]``.

Each violation is one sentence a Celery user understands, naming the node (its JSON path
in the canvas) and what was expected and observed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chord_chaos.check.events import Event, executions_by_node
from chord_chaos.check.history import History
from chord_chaos.check.resolve import Expected, all_matched, expect, ledger_task_ids
from chord_chaos.models.semantics import Prediction
from chord_chaos.models.vocabulary import CheckName


@dataclass(frozen=True)
class Violation:
    """One broken guarantee at one node, as a sentence a Celery user understands."""

    check: CheckName
    message: str
    node: str | None = None
    expected: Any = None
    observed: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "node": self.node, "message": self.message}


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def check_liveness(p: Prediction, h: History) -> list[Violation]:
    """The result resolves within the bound."""
    if h.client.status == "TIMEOUT":
        return [Violation(CheckName.LIVENESS, f"the result did not resolve within {h.timeout:g} s")]
    return []


def check_outcome(p: Prediction, h: History) -> list[Violation]:
    """get() returns the predicted value, or raises one of the predicted exception classes."""
    c = h.client
    if c.status == "TIMEOUT":
        return []
    if p.status == "SUCCESS":
        if c.status != "SUCCESS":
            return [Violation(CheckName.OUTCOME, f"get() raised {c.error} ({c.message}); "
                                         f"expected the value {dump_json(p.value)}")]
        if dump_json(c.value) != dump_json(p.value):
            return [Violation(CheckName.OUTCOME, f"get() returned {dump_json(c.value)}; "
                                         f"expected {dump_json(p.value)}",
                              expected=p.value, observed=c.value)]
        return []
    if c.status == "SUCCESS":
        return [Violation(CheckName.OUTCOME, f"get() returned {dump_json(c.value)}; expected it to raise "
                                     f"{' or '.join(p.errors)}")]
    if c.error not in p.errors:
        return [Violation(CheckName.OUTCOME, f"get() raised {c.error} ({c.message}); expected "
                                     f"{' or '.join(p.errors)}")]
    return []


def check_executions(p: Prediction, h: History) -> list[Violation]:
    """Every node ran the predicted number of times (a chord body exactly once)."""
    seen = executions_by_node(h.events)
    out = []
    for node, expected in p.executions.items():
        got = seen.get(node, 0)
        if got != expected:
            out.append(Violation(CheckName.EXECUTIONS, f"{node} ran {got} time(s); expected {expected}",
                                 node, expected=expected, observed=got))
    for node in sorted(set(seen) - set(p.executions)):
        out.append(Violation(CheckName.EXECUTIONS, f"unknown node {node} ran in this run", node))
    return out


def check_unfinished(p: Prediction, h: History) -> list[Violation]:
    """Every execution that started also ended (no task lost mid-run without faults)."""
    ends = Counter((e.node, e.pid, e.attempt) for e in h.events if e.kind == "end")
    out = []
    for e in h.events:
        if e.kind != "start":
            continue
        key = (e.node, e.pid, e.attempt)
        if ends[key] > 0:
            ends[key] -= 1
        else:
            out.append(Violation(CheckName.UNFINISHED, f"{e.node} started (pid {e.pid}) but never "
                                               "finished", e.node))
    return out


def _calls_of(events: tuple[Event, ...], node: str) -> list[Event]:
    return [e for e in events if e.kind == "start" and e.node == node]


def _differs(check: CheckName, node: str, verb: str, expected: list[Expected],
             got: list[str]) -> list[Violation]:
    """A violation when two equally long multisets of JSON dumps differ (``got`` sorted)."""
    if len(got) != len(expected) or all_matched(expected, got):
        return []  # a count mismatch is check_executions' to report
    shown = sorted(e.text for e in expected)
    return [Violation(check, f"{node} {verb} {', '.join(got)}; expected {', '.join(shown)}",
                      node, expected=[json.loads(x) for x in shown],
                      observed=[json.loads(x) for x in got])]


def check_inputs(p: Prediction, h: History) -> list[Violation]:
    """Each node received exactly the predicted arguments, in order (a body's header values;
    an errback's failed task id, resolved from the ledger)."""
    out = []
    ids = ledger_task_ids(h.events)
    for node, calls in p.calls.items():
        expected = [expect(dump_json([c.args, c.kwargs]), ids) for c in calls
                    for _ in range(c.attempts) if c.args is not None]
        if expected:
            got = sorted(dump_json([e.args, e.kwargs]) for e in _calls_of(h.events, node))
            out += _differs(CheckName.INPUTS, node, "received", expected, got)
    return out


def check_results(p: Prediction, h: History) -> list[Violation]:
    """Each node's final attempt returned the predicted value or raised the predicted class."""
    out = []
    ids = ledger_task_ids(h.events)
    for node, calls in p.calls.items():
        expected = [expect(dump_json(c.result), ids) for c in calls if c.result is not None]
        if expected:
            got = sorted(dump_json(e.outcome) for e in h.events
                         if e.kind == "end" and e.node == node and is_final(e.outcome))
            out += _differs(CheckName.RESULTS, node, "produced", expected, got)
    return out


def is_final(outcome: dict[str, Any] | None) -> bool:
    """An end that finished the task (a value or an error), not one attempt ending in a retry."""
    return bool(outcome) and "retry" not in (outcome or {})


def start_end_times(events: tuple[Event, ...], last: bool) -> tuple[dict[str, int], dict[str, int]]:
    """Each node's first start, and its last end (``last``) or first end that is not a retry."""
    first_start: dict[str, int] = {}
    end: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.mono):
        if e.kind == "start":
            first_start.setdefault(e.node, e.mono)
        elif last:
            end[e.node] = e.mono
        elif is_final(e.outcome):
            end.setdefault(e.node, e.mono)
    return first_start, end


def check_order(p: Prediction, h: History) -> list[Violation]:
    """Happens-before: a chord body starts after its last header task ended; chains in order."""
    first_start, last_end = start_end_times(h.events, last=True)
    out = []
    for before, after in p.happens_before:
        if before in last_end and after in first_start and first_start[after] < last_end[before]:
            gap = (last_end[before] - first_start[after]) / 1e6
            out.append(Violation(CheckName.ORDER, f"{after} started {gap:.1f} ms before {before} "
                                          "finished", after))
    return out


CHECKS: tuple[Callable[[Prediction, History], list[Violation]], ...] = (
    check_liveness,
    check_outcome,
    check_executions,
    check_unfinished,
    check_inputs,
    check_results,
    check_order,
)
