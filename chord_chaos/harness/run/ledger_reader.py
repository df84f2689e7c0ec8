"""Reading the ledger back, in the harness: every file of a ledger directory, or only what was
appended since the last poll."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from chord_chaos.check.events import Event


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
