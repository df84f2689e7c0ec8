"""What several test modules share: the repository root, bounded polls over real processes,
and hand-written histories of one small chord for the pure checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from chord_chaos.check.events import Event
from chord_chaos.check.history import ClientView, History
from chord_chaos.models.canvas import parse_workload, workload_to_json
from chord_chaos.models.semantics import Prediction, predict

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO_ROOT / "canvases" / "seeds"


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(interval)
    return True


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its exit status is left)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def gone(pid: int, timeout: float = 5.0) -> bool:
    return wait_for(lambda: not running(pid), timeout)


def descendants() -> set[int]:
    """Every running process below this one (what a leak would look like)."""
    return {p.pid for p in psutil.Process().children(recursive=True) if running(p.pid)}


CHORD: dict[str, Any] = {"chord": {"header": [{"task": "tag", "args": ["a"]},
                                              {"task": "tag", "args": ["b"]}],
                                   "body": {"task": "tag", "args": ["z"]}}}


def event(kind: str, node: str, mono: int, args: list[Any] | None = None,
          outcome: dict[str, Any] | None = None, pid: int = 1, task_id: str | None = None) -> Event:
    """One ledger event of run ``r`` on worker ``w``."""
    return Event(kind=kind, run="r", node=node, task_id=task_id, attempt=0, hostname="w",
                 pid=pid, t=0.0, mono=mono, args=args or [], kwargs={}, outcome=outcome)


def correct_chord_events() -> list[Event]:
    """What a healthy run of ``CHORD`` records."""
    return [
        event("start", "$.chord.header[0]", 1, ["a"]),
        event("start", "$.chord.header[1]", 2, ["b"], pid=2),
        event("end", "$.chord.header[0]", 3, outcome={"ok": ["a"]}),
        event("end", "$.chord.header[1]", 4, outcome={"ok": ["b"]}, pid=2),
        event("start", "$.chord.body", 5, [[["a"], ["b"]], "z"]),
        event("end", "$.chord.body", 6, outcome={"ok": [[["a"], ["b"]], "z"]}),
    ]


def chord_history(events: list[Event], client: ClientView | None = None,
                  errors: tuple[str, ...] = ()) -> History:
    """A history of ``CHORD`` with these events (by default the client got the right value)."""
    workload = parse_workload(CHORD)
    return History(run="r", workload=workload_to_json(workload), backend="redis",
                   client=client or ClientView("SUCCESS", [[["a"], ["b"]], "z"]),
                   events=tuple(events), timeout=5.0, harness_errors=errors)


def chord_prediction() -> Prediction:
    """The model's prediction for ``CHORD``."""
    return predict(parse_workload(CHORD))


# A chord whose failing header tasks have an old-style and a new-style errback, and whose
# ChordError reaches the body's new-style errback and the chord's old-style one.
ERRBACKS: dict[str, Any] = {"chord": {
    "header": [{"task": "fail", "args": ["x"], "link_error": {"task": "tag", "args": ["eb"]}},
               {"task": "fail", "args": ["y"], "link_error": {"task": "log_error"}}],
    "body": {"task": "tag", "args": ["z"], "link_error": {"task": "log_error"}}},
    "link_error": {"task": "tag", "args": ["ceb"]}}


def errback_events(old_args: list[Any] | None = None, new_args: list[Any] | None = None,
                   chord_args: list[Any] | None = None) -> list[Event]:
    """What a healthy run of ``ERRBACKS`` records (task ids h0-id, h1-id; the body's is body-id),
    with the header[0] errback's, the header[1] errback's or the chord errback's args replaced."""
    old = ["h0-id", "eb"] if old_args is None else old_args
    new = ["h1-id", "ExpectedException"] if new_args is None else new_args
    chord = ["body-id", "ceb"] if chord_args is None else chord_args
    h0, h1 = "$.chord.header[0]", "$.chord.header[1]"
    return [
        event("start", h0, 1, ["x"], task_id="h0-id"),
        event("end", h0, 2, outcome={"error": "ExpectedException"}, task_id="h0-id"),
        event("start", h1, 3, ["y"], pid=2, task_id="h1-id"),
        event("end", h1, 4, outcome={"error": "ExpectedException"}, pid=2, task_id="h1-id"),
        event("start", f"{h0}.link_error", 5, old, task_id="eb-id"),
        event("end", f"{h0}.link_error", 6, outcome={"ok": old}, task_id="eb-id"),
        event("start", f"{h1}.link_error", 7, new, pid=2),
        event("end", f"{h1}.link_error", 8, outcome={"ok": "ExpectedException"}, pid=2),
        event("start", "$.chord.body.link_error", 9, ["body-id", "ChordError"]),
        event("end", "$.chord.body.link_error", 10, outcome={"ok": "ChordError"}),
        event("start", "$.link_error", 11, chord, task_id="ceb-id"),
        event("end", "$.link_error", 12, outcome={"ok": chord}, task_id="ceb-id"),
    ]


def errback_history(events: list[Event]) -> History:
    """A history of ``ERRBACKS`` with these events; get() raised ChordError."""
    return History(run="r", workload=workload_to_json(parse_workload(ERRBACKS)), backend="redis",
                   client=ClientView("FAILURE", error="ChordError"), events=tuple(events),
                   timeout=5.0)


def errback_prediction() -> Prediction:
    return predict(parse_workload(ERRBACKS))
