"""The states a hung run's tasks have in the result backend at the end: the evidence that tells
a stored RETRY overwriting a SUCCESS (retry-state-race) from a task that never finished."""

from __future__ import annotations

from typing import Any

from chord_chaos.check.events import Event

MAX_PROBED = 200  # task ids read per run: a hung run's probe stays bounded


def stored_states(app: Any, events: tuple[Event, ...]) -> dict[str, str]:
    """task id -> the state stored for it now, for every task id the ledger saw end."""
    ids = sorted({e.task_id for e in events if e.kind == "end" and e.task_id})[:MAX_PROBED]
    states: dict[str, str] = {}
    for task_id in ids:
        try:
            states[task_id] = str(app.backend.get_task_meta(task_id, cache=False).get("status"))
        except Exception as exc:  # the backend is down or faulted: say so, never guess
            states[task_id] = f"unreadable ({type(exc).__name__})"
    return states
