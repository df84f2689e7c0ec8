"""Ledger events as the checks see them: one line of a worker's ledger, parsed.

Kinds: ``start`` and ``end`` of one execution attempt of a canvas node, and, in the delivery
records, ``publish`` (a task message sent) and ``receive`` (a pool process started it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One ledger line: a start or an end of one execution attempt of a node, or a delivery record."""

    kind: str  # "start" | "end" | "publish" | "receive"
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


def execution_key(e: Event) -> tuple[int, str, str | None, int]:
    """What pairs an execution's start with its end: one attempt of a node in one process."""
    return e.pid, e.node, e.task_id, e.attempt


def executions_by_node(events: tuple[Event, ...]) -> dict[str, int]:
    """How many executions (attempts) of each node started."""
    counts: dict[str, int] = {}
    for e in events:
        if e.kind == "start":
            counts[e.node] = counts.get(e.node, 0) + 1
    return counts
