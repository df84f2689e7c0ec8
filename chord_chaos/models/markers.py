"""Markers: values ``predict`` can name but not know, written where the value goes.

An errback receives the failed task's id (an old-style one as its first argument, a new-style
one in its request), and Celery draws that id only when the canvas is applied. The model
writes a marker in its place, readable in ``chord-chaos predict`` output, and the checks
resolve it against the task ids the ledger recorded. Markers are strings, so an op applied to
one computes what it would with the real id (``tag(id)`` holds it, ``add(id, "-x")`` ends
with ``-x``, ``tsum(id)`` raises TypeError), and a marker may sit inside a longer string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

UNMODELLED_EXCEPTION = "<an exception class the model does not predict>"
_NEVER_RUNS = ", which never runs"

_ONE_OF = "<one of the exception classes "

MARKER = re.compile(
    rf"<task id of (?P<node>[^\s<>,]+)(?P<never>{_NEVER_RUNS})?>|{re.escape(UNMODELLED_EXCEPTION)}"
    rf"|{re.escape(_ONE_OF)}(?P<classes>\w+(?: \w+)*)>"
)


def task_id(node: str) -> str:
    """The id of the task that ran ``node``: its start and end events in the ledger carry it."""
    return f"<task id of {node}>"


def unknown_task_id(node: str) -> str:
    """The id Celery gave ``node``, which never runs (a chord body on ChordError): no ledger
    event can carry it, so a check can hold only the shape of what surrounds it."""
    return f"<task id of {node}{_NEVER_RUNS}>"


def one_of(classes: Iterable[str]) -> str:
    """An exception class that is one of ``classes``, where which one depends on the backend
    (an errback of a group body on ChordError): a check accepts any of them in its place."""
    return f"{_ONE_OF}{' '.join(sorted(classes))}>"
