"""History: what was observed in one run, the ledger's events plus the client's view.

A History is plain data, written to disk (``harness/run/history_files.py``) before any check
runs, so a crashing checker never loses a run and ``chord-chaos analyze`` can re-check it
later without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chord_chaos.check.events import Event


@dataclass(frozen=True)
class ClientView:
    """What ``AsyncResult.get()`` told the client."""

    status: str  # "SUCCESS" | "FAILURE" | "TIMEOUT"
    value: Any = None
    error: str | None = None
    message: str = ""
    elapsed: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "value": self.value, "error": self.error,
                "message": self.message, "elapsed": round(self.elapsed, 4)}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> ClientView:
        return ClientView(obj["status"], obj.get("value"), obj.get("error"),
                          obj.get("message", ""), float(obj.get("elapsed", 0.0)))


@dataclass(frozen=True)
class History:
    run: str
    workload: dict[str, Any]
    backend: str
    client: ClientView
    events: tuple[Event, ...]
    timeout: float
    harness_errors: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    delivery: str = "acks-early"
    faults: dict[str, Any] = field(default_factory=lambda: {"faults": []})  # the plan's JSON
    nemesis: tuple[dict[str, Any], ...] = ()  # what the nemesis did, and when
    client_errors: tuple[str, ...] = ()  # errors get() raised and retried during the faults
    worker_exits: tuple[str, ...] = ()  # workers that died without the nemesis killing them
    # kept when the result never resolved: messages sent and started (``deliveries.py``), and
    # where the unstarted ones were at the end (``broker_probe.py``)
    deliveries: tuple[Event, ...] = ()
    broker: dict[str, Any] = field(default_factory=dict)
    celery: str = ""  # the Celery release the run used ("" when unknown: an older history)
    states: dict[str, str] = field(default_factory=dict)  # hung runs: task id -> state stored at the end

    @property
    def faulted(self) -> bool:
        return bool(self.faults.get("faults"))

    @property
    def strict(self) -> bool:
        """Checked with no known-issue excuses (``--strict``): every deviation is a violation."""
        return bool(self.meta.get("strict"))

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run, "workload": self.workload, "backend": self.backend,
            "client": self.client.to_json(), "timeout": self.timeout,
            "harness_errors": list(self.harness_errors), "meta": self.meta,
            "delivery": self.delivery, "faults": self.faults, "nemesis": list(self.nemesis),
            "client_errors": list(self.client_errors), "worker_exits": list(self.worker_exits),
            "events": [e.to_json() for e in self.events],
            "deliveries": [e.to_json() for e in self.deliveries], "broker": self.broker,
            "celery": self.celery, "states": self.states,
        }

    @staticmethod
    def from_json(obj: dict[str, Any]) -> History:
        return History(
            run=obj["run"], workload=obj["workload"], backend=obj["backend"],
            client=ClientView.from_json(obj["client"]),
            events=tuple(Event.from_json(e) for e in obj["events"]),
            timeout=float(obj["timeout"]), harness_errors=tuple(obj.get("harness_errors", [])),
            meta=dict(obj.get("meta", {})), delivery=str(obj.get("delivery", "acks-early")),
            faults=dict(obj.get("faults") or {"faults": []}),
            nemesis=tuple(obj.get("nemesis", ())), client_errors=tuple(obj.get("client_errors", ())),
            worker_exits=tuple(obj.get("worker_exits", ())),
            deliveries=tuple(Event.from_json(e) for e in obj.get("deliveries", ())),
            broker=dict(obj.get("broker") or {}), celery=str(obj.get("celery") or ""),
            states=dict(obj.get("states") or {}),
        )
