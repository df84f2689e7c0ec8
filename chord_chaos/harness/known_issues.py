"""The known-issues register: real Celery deviations from the model, never hidden.

Each entry names the Celery behaviour, where it is reported (a Celery issue link, or a note
that none was found), the Celery versions it was seen with, a minimal canvas, and a
predicate that recognises its violations. Matched violations are reported as known issues,
so a CI gate stays green on them while every report still shows them. KNOWN_ISSUES.md is the
human-readable copy of this register.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chord_chaos.harness.checks import Violation
from chord_chaos.harness.history import History, executions_by_node
from chord_chaos.models.canvas import (
    Canvas,
    Chain,
    Chord,
    Group,
    Task,
    parse_workload,
    task_ids,
    walk,
)
from chord_chaos.models.semantics import Prediction, chain_steps

Matcher = Callable[[Violation, Prediction, History], bool]


@dataclass(frozen=True)
class KnownIssue:
    id: str
    title: str
    link: str
    celery_versions: str
    minimal_canvas: dict[str, Any]
    matches: Matcher


def _canonical(value: Any) -> Any:
    """A value with every list sorted: equal canonical forms differ only in order."""
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _canvas(history: History) -> Canvas:
    return parse_workload(history.workload).canvas


def _ends_in_group(canvas: Canvas) -> bool:
    """Whether the result of this canvas is a GroupResult (a group, or a chain/chord ending in one)."""
    if isinstance(canvas, Group):
        return len(canvas.items) != 1 or _ends_in_group(canvas.items[0])
    if isinstance(canvas, Chain):
        return bool(canvas.items) and _ends_in_group(canvas.items[-1])
    if isinstance(canvas, Chord):
        return _ends_in_group(canvas.body)
    return False


def _never_run_group_ending_chain(canvas: Canvas, prediction: Prediction) -> bool:
    """Some chain's last step ends in a group, and none of that step's tasks is to run."""
    runs = prediction.executions
    for path, node in walk(canvas):
        if not isinstance(node, Chain):
            continue
        last_path, last = chain_steps(path, node)[-1]
        if _ends_in_group(last):
            tasks = [f"{last_path}{p[1:]}" for p in task_ids(last)]
            if all(runs.get(t, 0) == 0 for t in tasks):
                return True
    return False


def _hang_after_upstream_failure(v: Violation, p: Prediction, h: History) -> bool:
    return (v.check == "liveness" and p.status == "FAILURE"
            and _never_run_group_ending_chain(_canvas(h), p))


def _has_nested_group(canvas: Canvas) -> bool:
    """A multi-member group directly inside a group or a chord header."""
    for _, node in walk(canvas):
        members = node.items if isinstance(node, Group) else (
            node.header if isinstance(node, Chord) else ())
        if any(isinstance(m, Group) and len(m.items) > 1 for m in members):
            return True
    return False


def _nested_group_reordered(v: Violation, p: Prediction, h: History) -> bool:
    return (v.check in ("outcome", "inputs", "results") and v.expected is not None
            and _canonical(v.observed) == _canonical(v.expected)
            and _has_nested_group(_canvas(h)))


def _retry_state_overwrites_success(v: Violation, p: Prediction, h: History) -> bool:
    """get() hangs although the ledger shows every predicted execution, and a task retried."""
    if v.check != "liveness" or not any(
        isinstance(n, Task) and n.op == "retry" for _, n in walk(_canvas(h))
    ):
        return False
    return executions_by_node(h.events) == {n: k for n, k in p.executions.items() if k}


REGISTER: tuple[KnownIssue, ...] = (
    KnownIssue(
        id="celery-4004",
        title="A chain that ends in a group never resolves when an earlier step fails: "
              "get() on the GroupResult waits for members that are never sent",
        link="https://github.com/celery/celery/issues/4004 (closed, still reproduces)",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "fail", "immutable": True},
                                  {"group": [{"task": "tag", "args": ["a"]},
                                             {"task": "tag", "args": ["b"]}]}]},
        matches=_hang_after_upstream_failure,
    ),
    KnownIssue(
        id="nested-group-order",
        title="A group nested in a chord header, or in a group applied as a chain step or "
              "chord body, yields its members' results in reverse order",
        link="no Celery issue found (searched the tracker for nested group result order); "
             "minimal reproduction in KNOWN_ISSUES.md",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "tag", "args": ["x"]},
                                  {"group": [{"group": [{"task": "tag", "args": ["a"],
                                                         "immutable": True},
                                                        {"task": "tag", "args": ["b"],
                                                         "immutable": True}]},
                                             {"task": "tag", "args": ["c"],
                                              "immutable": True}]}]},
        matches=_nested_group_reordered,
    ),
    KnownIssue(
        id="retry-state-race",
        title="A task that retries with countdown=0 can succeed on its next attempt before the "
              "previous attempt's RETRY state is stored; RETRY then overwrites SUCCESS and get() "
              "never resolves (about 1 run in 30 here)",
        link="no Celery issue found (searched the tracker for RETRY overwriting SUCCESS); "
             "minimal reproduction in KNOWN_ISSUES.md",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "tag", "args": ["a"], "immutable": True},
                                  {"task": "retry", "args": [1, "v"], "immutable": True}]},
        matches=_retry_state_overwrites_success,
    ),
)


def match_known(
    violations: list[Violation], prediction: Prediction, history: History
) -> tuple[list[tuple[str, Violation]], list[Violation]]:
    """Split violations into (known issue id, violation) pairs and unexplained ones."""
    known: list[tuple[str, Violation]] = []
    unexplained: list[Violation] = []
    for v in violations:
        issue = next((k for k in REGISTER if k.matches(v, prediction, history)), None)
        if issue is None:
            unexplained.append(v)
        else:
            known.append((issue.id, v))
    return known, unexplained
