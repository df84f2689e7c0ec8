"""Whether each applied fault landed on work in flight, judged from evidence, never assumed.

A kill that lands on an idle process tests nothing, and a partition of a quiet link neither.
Each fault the nemesis applied is ``hit``, ``missed`` or ``unmeasured``:

- a process fault (``kill_worker``, ``kill_child``, ``term_worker``) hits when the ledger shows
  an execution of this run in flight in the process it signalled at that moment (started, not
  yet ended), or, for a worker kill, when messages it held unacknowledged came back: a task of
  this run started again as a redelivery after the kill;
- a Redis fault hits when an execution of this run was in flight anywhere: the chord was open;
- a network fault hits when the run was still open as it was applied (its result not yet
  returned, or an execution in flight: a link callback outlives the result) and traffic met it on its
  links (bytes moved, connections opened or closed: ``harness/infra/link_traffic.py``);
  without those counters it is ``unmeasured``.

The roles a hit reached (header, body or other task; broker or backend link) feed coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chord_chaos.check.events import Event, execution_key
from chord_chaos.check.history import History
from chord_chaos.models.faults import NETWORK_KINDS, node_role
from chord_chaos.models.vocabulary import FaultKind

HIT, MISSED, UNMEASURED = "hit", "missed", "unmeasured"
PROCESS_FAULTS = (FaultKind.KILL_WORKER, FaultKind.KILL_CHILD, FaultKind.TERM_WORKER)


@dataclass(frozen=True)
class Landing:
    fault: int
    kind: str
    outcome: str  # HIT | MISSED | UNMEASURED
    roles: tuple[str, ...]  # what it reached: task roles, or the servers of its links
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return {"fault": self.fault, "kind": self.kind, "outcome": self.outcome,
                "roles": list(self.roles), "evidence": self.evidence}


def landings(history: History) -> tuple[Landing, ...]:
    """One Landing per fault the nemesis applied without error, in plan order."""
    t0 = history.meta.get("t0_mono_ns")
    if t0 is None:
        return ()
    out = []
    for record in history.nemesis:
        if record.get("applied") is None or record.get("error"):
            continue
        at = int(t0 + float(record["applied"]) * 1e9)
        out.append(_landing(history, record, at))
    return tuple(out)


def _landing(history: History, record: dict[str, Any], at: int) -> Landing:
    kind, index = str(record["kind"]), int(record["fault"])
    if record.get("note") == "worker already down":
        return Landing(index, kind, MISSED, (), "the worker was already down")
    if kind in NETWORK_KINDS:
        return _network(history, record, index, kind, at)
    resolved = [str(r) for r in record.get("resolved", [])]
    if kind == FaultKind.KILL_CHILD:
        name, _, pid = resolved[0].partition(":") if resolved else ("", "", "0")
        busy = in_flight(history.events, at, lambda e: _node_name(e) == name and e.pid == int(pid or 0))
        where = f"pool process {pid} of {name}"
    elif kind in (FaultKind.KILL_WORKER, FaultKind.TERM_WORKER):
        busy = in_flight(history.events, at, lambda e: _node_name(e) in resolved)
        where = f"worker {', '.join(resolved)}"
    else:
        busy = in_flight(history.events, at, lambda e: True)
        where = f"redis {', '.join(resolved)}"
    if busy:
        nodes = ", ".join(sorted({e.node for e in busy}))
        return Landing(index, kind, HIT, _roles(busy), f"{where} was running {nodes}")
    if kind == FaultKind.KILL_WORKER:
        back = [e for e in history.events if e.kind == "start" and e.mono > at and e.redelivered]
        if back:
            nodes = ", ".join(sorted({e.node for e in back}))
            return Landing(index, kind, HIT, _roles(back),
                           f"{where} held {nodes} unacknowledged; redelivered after the kill")
    return Landing(index, kind, MISSED, (), f"{where} had no task of this run in flight")


def _network(history: History, record: dict[str, Any], index: int, kind: str, at: int) -> Landing:
    servers = tuple(sorted({str(link).rpartition(".")[2] for link in record.get("resolved", [])}))
    applied = float(record["applied"])
    resolved = history.client.status != "TIMEOUT" and history.client.elapsed <= applied
    if resolved and not in_flight(history.events, at, lambda e: True):  # a link callback may still run
        return Landing(index, kind, MISSED, (), f"the run had resolved {applied - history.client.elapsed:.2f}"
                       " s before the fault")
    traffic = record.get("traffic") or {}
    if not traffic.get("measured"):
        return Landing(index, kind, UNMEASURED, servers, "no traffic counters for its links")
    moved = int(traffic.get("bytes") or 0)
    opened, closed = int(traffic.get("opened") or 0), int(traffic.get("closed") or 0)
    if moved or opened or closed:
        return Landing(index, kind, HIT, servers,
                       f"{moved} bytes, {opened} connections opened, {closed} closed while it was on")
    return Landing(index, kind, MISSED, (), "no traffic on its links while it was on")


def in_flight(events: tuple[Event, ...], at: int, where: Any) -> list[Event]:
    """Executions that ``where`` selects which had started before ``at`` and not ended by then."""
    ended = {execution_key(e) for e in events if e.kind == "end" and e.mono <= at}
    return [e for e in events
            if e.kind == "start" and e.mono <= at and where(e) and execution_key(e) not in ended]


def _node_name(e: Event) -> str:
    return e.hostname.partition("@")[0]


def _roles(events: list[Event]) -> tuple[str, ...]:
    return tuple(sorted({node_role(e.node) for e in events}))
