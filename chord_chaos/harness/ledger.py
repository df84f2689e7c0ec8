"""The out-of-band ledger: every task execution, written where faults cannot reach.

Each process appends JSON lines to its own file in the ledger directory with single
``os.write`` calls on an ``O_APPEND`` descriptor: no broker, no result backend, no
buffering in the process (a SIGKILLed worker loses nothing it wrote). Reading merges the
files and keeps the events of one run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_fds: dict[str, int] = {}


def worker_dir() -> str:
    """The ledger directory of a worker process (the harness sets CC_LEDGER_DIR)."""
    return os.environ.get("CC_LEDGER_DIR", "/tmp/chord-chaos-ledger")


def record(ledger_dir: str, event: dict[str, Any]) -> None:
    """Append one event (stamped with pid and both clocks) to this process's ledger file."""
    event = {**event, "pid": os.getpid(), "t": time.time(), "mono": time.monotonic_ns()}
    line = (json.dumps(event, default=repr, separators=(",", ":")) + "\n").encode()
    key = f"{ledger_dir}:{os.getpid()}"  # a forked child must not reuse its parent's fd
    fd = _fds.get(key)
    if fd is None:
        Path(ledger_dir).mkdir(parents=True, exist_ok=True)
        path = os.path.join(ledger_dir, f"ledger-{os.getpid()}.jsonl")
        fd = _fds[key] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line)


@dataclass(frozen=True)
class Event:
    """One ledger line: a start or an end of one execution attempt of a node."""

    kind: str  # "start" | "end"
    run: str
    node: str
    task_id: str | None
    attempt: int
    hostname: str
    pid: int
    t: float
    mono: int
    args: list[Any]
    kwargs: dict[str, Any]
    outcome: dict[str, Any] | None
    redelivered: bool = False

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Event:
        return Event(
            kind=obj["ev"], run=obj["run"], node=obj["node"], task_id=obj.get("task_id"),
            attempt=int(obj.get("attempt") or 0), hostname=obj.get("hostname") or "",
            pid=int(obj["pid"]), t=float(obj["t"]), mono=int(obj["mono"]),
            args=obj.get("args") or [], kwargs=obj.get("kwargs") or {},
            outcome=obj.get("outcome"), redelivered=bool(obj.get("redelivered")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ev": self.kind, "run": self.run, "node": self.node, "task_id": self.task_id,
            "attempt": self.attempt, "hostname": self.hostname, "pid": self.pid, "t": self.t,
            "mono": self.mono, "args": self.args, "kwargs": self.kwargs,
            "outcome": self.outcome, "redelivered": self.redelivered,
        }


def read_events(ledger_dir: str | Path, run: str | None = None) -> list[Event]:
    """All events in the ledger directory (of one run if given), ordered by monotonic time.

    A torn last line (a process killed mid-write) is skipped; it cannot be a whole event.
    """
    events: list[Event] = []
    for path in sorted(Path(ledger_dir).glob("ledger-*.jsonl")):
        for line in _lines(path):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if run is None or obj.get("run") == run:
                events.append(Event.from_json(obj))
    events.sort(key=lambda e: e.mono)
    return events


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from fh


class LedgerTail:
    """Reads a ledger directory incrementally: each poll parses only the new bytes.

    A cluster that checks thousands of canvases keeps one tail instead of re-reading every
    file on every poll. Events are grouped by run.
    """

    def __init__(self, ledger_dir: str | Path) -> None:
        self.dir = Path(ledger_dir)
        self._offsets: dict[Path, int] = {}
        self.by_run: dict[str, list[Event]] = {}

    def poll(self) -> int:
        """Read what was appended since the last poll; returns the number of new events."""
        new = 0
        for path in sorted(self.dir.glob("ledger-*.jsonl")):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk.rfind(b"\n") + 1  # leave a line still being written for later
            self._offsets[path] = offset + complete
            for line in chunk[:complete].splitlines():
                try:
                    event = Event.from_json(json.loads(line))
                except (json.JSONDecodeError, KeyError, ValueError):
                    continue
                self.by_run.setdefault(event.run, []).append(event)
                new += 1
        return new

    def events(self, run: str) -> tuple[Event, ...]:
        return tuple(sorted(self.by_run.get(run, ()), key=lambda e: e.mono))

    def forget(self, run: str) -> None:
        self.by_run.pop(run, None)
