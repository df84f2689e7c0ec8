"""The model's markers (``models/markers.py``) resolved against what a run recorded.

A marker for a task that ran becomes the task id its start and end events carry, so an
errback called with no id, or with another task's, differs from the prediction. A marker the
ledger cannot resolve (the id of a task that never runs, an exception the model does not
predict) matches any non-empty string, and one naming a set of exception classes any of them,
so its check still holds everything around it: the number and order of the arguments and
every other value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chord_chaos.check.events import Event
from chord_chaos.models.markers import MARKER

_ANY = r'[^"\\]+'  # the content of a non-empty JSON string without escapes: a task id, a class


def ledger_task_ids(events: Sequence[Event]) -> dict[str, str]:
    """Each node's task id, where its start and end events agree on exactly one."""
    seen: dict[str, set[str | None]] = {}
    for e in events:
        if e.kind in ("start", "end"):
            seen.setdefault(e.node, set()).add(e.task_id)
    out: dict[str, str] = {}
    for node, ids in seen.items():
        (only, *more) = ids
        if only is not None and not more:
            out[node] = only
    return out


@dataclass(frozen=True)
class Expected:
    """One predicted JSON dump: ``text`` shows it (ids resolved, other markers kept), and an
    observed dump matches it if equal, or, with unresolved markers, if ``pattern`` matches."""

    text: str
    pattern: re.Pattern[str] | None = None

    def matches(self, dumped: str) -> bool:
        if self.pattern is None:
            return dumped == self.text
        return self.pattern.fullmatch(dumped) is not None


def expect(dumped: str, ids: Mapping[str, str]) -> Expected:
    """Resolve the markers in a predicted dump with the ledger's task ids (``ledger_task_ids``)."""
    shown: list[str] = []
    regex: list[str] = []
    resolved_all, pos = True, 0
    for m in MARKER.finditer(dumped):
        literal = dumped[pos:m.start()]
        node = m.group("node")
        task_id = ids.get(node) if node and not m.group("never") else None
        classes = m.group("classes")
        shown += [literal, task_id or m.group()]
        any_of = f"(?:{'|'.join(map(re.escape, classes.split()))})" if classes else _ANY
        regex += [re.escape(literal), re.escape(task_id) if task_id else any_of]
        resolved_all = resolved_all and task_id is not None
        pos = m.end()
    shown.append(dumped[pos:])
    regex.append(re.escape(dumped[pos:]))
    text = "".join(shown)
    return Expected(text) if resolved_all else Expected(text, re.compile("".join(regex)))


def all_matched(expected: Sequence[Expected], got: Sequence[str]) -> bool:
    """Whether the observed dumps pair off with the predicted ones, each matching its own
    (a perfect bipartite matching: an unresolved marker may match several observations)."""
    if len(expected) != len(got):
        return False
    owner: dict[int, int] = {}  # observed index -> the predicted one it is paired with

    def place(i: int, tried: set[int]) -> bool:
        for j, g in enumerate(got):
            if j not in tried and expected[i].matches(g):
                tried.add(j)
                if j not in owner or place(owner[j], tried):
                    owner[j] = i
                    return True
        return False

    return all(place(i, set()) for i in range(len(expected)))
