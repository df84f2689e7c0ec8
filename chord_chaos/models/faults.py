"""Fault plans as data: timed fault operations, each with its heal, serialisable to JSON.

A plan says *what* to do and *when*, never how: the nemesis (``harness/nemesis.py``) applies
it and records what it actually did. Times are seconds after the run's submission, or after an
anchor (the n-th start or end of a header or body task in this run), so that "kill the worker
running the body" is expressible without guessing the clock. Every fault is healed after its
``duration``, and whatever is still active is healed when the run's fault window closes.

All randomness (jitter included) is drawn by us into the plan: toxics run with toxicity 1.0,
so a plan replays the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chord_chaos.models.vocabulary import FaultKind

# kind -> (fault class, allowed targets description, params with (min, max))
NETWORK_KINDS: dict[FaultKind, dict[str, tuple[float, float]]] = {
    FaultKind.LATENCY: {"latency": (1, 2000), "jitter": (0, 1000)},  # ms
    FaultKind.BANDWIDTH: {"rate": (1, 1_000_000)},  # KB/s
    FaultKind.SLOW_CLOSE: {"delay": (1, 5000)},  # ms
    FaultKind.TIMEOUT: {"timeout": (0, 10_000)},  # ms; 0 = hold data until healed (a black hole)
    FaultKind.RESET_PEER: {"timeout": (0, 10_000)},  # ms before the reset
    FaultKind.LIMIT_DATA: {"bytes": (1, 10_000_000)},
    FaultKind.SLICER: {"average_size": (1, 10_000), "size_variation": (0, 10_000), "delay": (0, 100_000)},
    FaultKind.PARTITION: {},  # the proxy disabled: connections dropped, new ones refused
}
PROCESS_KINDS: dict[FaultKind, dict[str, tuple[float, float]]] = {
    FaultKind.KILL_WORKER: {},  # SIGKILL of a worker's main process (its pool dies with it); heal: restart
    FaultKind.KILL_CHILD: {},  # SIGKILL of one pool child; the main process replaces it
    FaultKind.TERM_WORKER: {},  # SIGTERM: warm shutdown; heal: restart
    FaultKind.KILL_REDIS: {},  # SIGKILL of a redis-server (every key lost); heal: restart, same port
    FaultKind.RESTART_REDIS: {},  # kill and start again at once (every key lost)
    FaultKind.PAUSE_REDIS: {},  # SIGSTOP; heal: SIGCONT
    FaultKind.KILL_RABBITMQ: {},  # SIGKILL of the RabbitMQ node; heal: restart, same ports and data
    FaultKind.RESTART_RABBITMQ: {},  # kill and start again at once (durable messages kept)
    FaultKind.RESTART_POSTGRES: {},  # SIGKILL of the PostgreSQL server and a start at once
}
# The server each server fault hits, by the role it plays: Redis faults name broker or backend.
SERVER_KINDS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.KILL_REDIS: ("broker", "backend"), FaultKind.RESTART_REDIS: ("broker", "backend"),
    FaultKind.PAUSE_REDIS: ("broker", "backend"), FaultKind.KILL_RABBITMQ: ("broker",),
    FaultKind.RESTART_RABBITMQ: ("broker",), FaultKind.RESTART_POSTGRES: ("backend",),
}
KINDS = {**NETWORK_KINDS, **PROCESS_KINDS}
SERVERS = ("broker", "backend")
ANCHOR_EVENTS = ("start", "end")
ANCHOR_ROLES = ("header", "body", "any")
MAX_FAULTS = 16
MAX_TIME = 120.0


class PlanError(ValueError):
    """A malformed fault plan; the message names the field and says what is allowed."""


@dataclass(frozen=True)
class Anchor:
    """The ``count``-th ``event`` (start or end) of a task in this run whose role matches."""

    event: str = "start"
    role: str = "any"
    count: int = 1

    def matches(self, kind: str, node: str) -> bool:
        return kind == self.event and (self.role == "any" or node_role(node) == self.role)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "role": self.role, "count": self.count}


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` on ``target`` at ``at`` s (after ``anchor``), healed ``duration`` s later.

    Targets: a network fault hits links named ``<client|wN>.<broker|backend>``; ``*`` stands
    for every client or every server (``*.backend`` is every backend link). A worker fault
    names ``wN``, or ``@anchor``: the worker (for ``kill_child``, the pool process) that
    recorded the anchor event. A Redis fault names ``broker`` or ``backend``, a RabbitMQ fault
    ``broker``, a PostgreSQL fault ``backend``.
    """

    kind: FaultKind
    target: str
    at: float = 0.0
    duration: float = 1.0
    params: dict[str, float] = field(default_factory=dict)
    anchor: Anchor | None = None

    @property
    def fault_class(self) -> str:
        return fault_class(self)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "target": self.target, "at": self.at,
                               "duration": self.duration}
        if self.params:
            out["params"] = dict(self.params)
        if self.anchor is not None:
            out["anchor"] = self.anchor.to_json()
        return out


@dataclass(frozen=True)
class FaultPlan:
    faults: tuple[Fault, ...] = ()

    @property
    def window(self) -> float:
        """Seconds after submission (anchors not counted) by which every fault is healed."""
        return max((f.at + f.duration for f in self.faults), default=0.0)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted({f.fault_class for f in self.faults}))

    def to_json(self) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in self.faults]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))


NO_FAULTS = FaultPlan()

# Fault classes: what a fault does to messages and processes, which decides what Celery
# promises under it (see models/guarantees.py).
SLOW = "slow"  # data delayed or cut small, nothing lost
LOSSY = "lossy-network"  # connections reset, black-holed or refused
WORKER_TERM = "worker-term"
WORKER_KILL = "worker-kill"
CHILD_KILL = "child-kill"
REDIS_LOSS = "redis-data-loss"
REDIS_PAUSE = "redis-pause"
BROKER_RESTART = "rabbitmq-restart"
DATABASE_RESTART = "postgres-restart"
FAULT_CLASSES = (SLOW, LOSSY, WORKER_TERM, WORKER_KILL, CHILD_KILL, REDIS_LOSS, REDIS_PAUSE,
                 BROKER_RESTART, DATABASE_RESTART)


def fault_class(f: Fault) -> str:
    if f.kind in ("latency", "bandwidth", "slicer"):
        return SLOW
    if f.kind in NETWORK_KINDS:
        return LOSSY
    return {"kill_worker": WORKER_KILL, "term_worker": WORKER_TERM, "kill_child": CHILD_KILL,
            "kill_redis": REDIS_LOSS, "restart_redis": REDIS_LOSS,
            "pause_redis": REDIS_PAUSE, "kill_rabbitmq": BROKER_RESTART,
            "restart_rabbitmq": BROKER_RESTART, "restart_postgres": DATABASE_RESTART}[f.kind]


def links_of(backend: str) -> list[str]:
    """The proxied links of a cluster with this backend choice: the broker's always, the
    backend's when it is a server (Redis, PostgreSQL), not an SQLite file."""
    return ["broker", "backend"] if backend in ("redis", "postgres") else ["broker"]


def server_roles(kind: FaultKind, backend: str, broker: str) -> list[str] | None:
    """The roles a server fault of ``kind`` can hit in this cluster ([] when it has no such
    server); None for a fault that is not a server fault."""
    if kind not in SERVER_KINDS:
        return None
    have = {"redis": [r for r, k in (("broker", broker), ("backend", backend)) if k == "redis"],
            "rabbitmq": ["broker"] if broker == "rabbitmq" else [],
            "postgres": ["backend"] if backend == "postgres" else []}
    return have[kind.rsplit("_", 1)[1]]


def fit_anchors(plan: FaultPlan, starts: dict[str, int]) -> FaultPlan:
    """The plan with each start anchor moved onto a start this canvas will have: ``starts``
    counts the predicted starts per role (``header``, ``body``, ``other``). A count past the
    role's starts becomes its last one; a role with none becomes ``any``. Drawn plans and
    canvases are independent, so without this many anchors would never come and their faults
    would be skipped."""
    total = sum(starts.values())
    fitted = []
    for f in plan.faults:
        a = f.anchor
        if a is not None and a.event == "start" and total:
            have = total if a.role == "any" else starts.get(a.role, 0)
            role = a.role if have else "any"
            a = Anchor("start", role, min(a.count, have or total))
        fitted.append(Fault(f.kind, f.target, f.at, f.duration, f.params, a))
    return FaultPlan(tuple(fitted))


def node_role(node: str) -> str:
    """``body`` for a chord body (or a task inside one), ``header`` for a header task."""
    last_body = node.rfind(".chord.body")
    last_header = node.rfind(".chord.header[")
    if last_body < 0 and last_header < 0:
        return "other"
    return "body" if last_body > last_header else "header"


def parse_plan(obj: Any, source: str = "plan") -> FaultPlan:
    """Validate a plan's JSON; a ``PlanError`` names the field and says what is allowed."""
    if not isinstance(obj, dict) or not isinstance(obj.get("faults"), list):
        raise PlanError(f'{source}: expected an object {{"faults": [...]}}')
    if len(obj["faults"]) > MAX_FAULTS:
        raise PlanError(f"{source}.faults: at most {MAX_FAULTS} faults, got {len(obj['faults'])}")
    return FaultPlan(tuple(_parse_fault(f, f"{source}.faults[{i}]") for i, f in enumerate(obj["faults"])))


def loads_plan(text: str, source: str = "plan") -> FaultPlan:
    try:
        return parse_plan(json.loads(text), source)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None


def _number(obj: dict[str, Any], key: str, path: str, lo: float, hi: float, default: float) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise PlanError(f"{path}.{key}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def _parse_fault(obj: Any, path: str) -> Fault:
    if not isinstance(obj, dict):
        raise PlanError(f"{path}: expected an object with kind, target, at, duration")
    unknown = set(obj) - {"kind", "target", "at", "duration", "params", "anchor"}
    if unknown:
        raise PlanError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise PlanError(f"{path}.kind: {kind!r} is not a fault; use one of {', '.join(KINDS)}")
    target = obj.get("target")
    if not isinstance(target, str) or not _target_ok(kind, target):
        raise PlanError(f"{path}.target: {target!r} does not fit {kind}; {_target_help(kind)}")
    params_obj = obj.get("params", {})
    if not isinstance(params_obj, dict):
        raise PlanError(f"{path}.params: expected an object")
    allowed = KINDS[kind]
    extra = set(params_obj) - set(allowed)
    if extra:
        names = ", ".join(allowed) or "none"
        raise PlanError(f"{path}.params: {kind} takes {names}, not {', '.join(sorted(extra))}")
    params = {k: _number(params_obj, k, f"{path}.params", lo, hi, lo) for k, (lo, hi) in allowed.items()
              if k in params_obj}
    if kind == "slicer" and params.get("size_variation", 0) >= params.get("average_size", 1):
        raise PlanError(f"{path}.params.size_variation: must be below average_size (Toxiproxy 2.12 "
                        "panics otherwise, Shopify/toxiproxy#541); lower it")
    anchor = None
    if "anchor" in obj:
        anchor = _parse_anchor(obj["anchor"], f"{path}.anchor")
    if target == "@anchor" and anchor is None:
        raise PlanError(f"{path}.target: @anchor needs an anchor")
    return Fault(FaultKind(kind), target, _number(obj, "at", path, 0, MAX_TIME, 0.0),
                 _number(obj, "duration", path, 0, MAX_TIME, 1.0), params, anchor)


def _parse_anchor(obj: Any, path: str) -> Anchor:
    if not isinstance(obj, dict):
        raise PlanError(f"{path}: expected an object with event, role, count")
    event, role, count = obj.get("event", "start"), obj.get("role", "any"), obj.get("count", 1)
    if event not in ANCHOR_EVENTS:
        raise PlanError(f"{path}.event: use one of {', '.join(ANCHOR_EVENTS)}, not {event!r}")
    if role not in ANCHOR_ROLES:
        raise PlanError(f"{path}.role: use one of {', '.join(ANCHOR_ROLES)}, not {role!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise PlanError(f"{path}.count: expected an integer from 1 to 1000, got {count!r}")
    return Anchor(event, role, count)


def _target_ok(kind: str, target: str) -> bool:
    if kind in NETWORK_KINDS:
        who, _, server = target.partition(".")
        return (who in ("*", "client") or _is_worker(who)) and server in (*SERVERS, "*")
    if kind in SERVER_KINDS:
        return target in SERVER_KINDS[FaultKind(kind)]
    return target == "@anchor" or _is_worker(target)


def _is_worker(name: str) -> bool:
    return len(name) >= 2 and name[0] == "w" and name[1:].isdigit()


def _target_help(kind: str) -> str:
    if kind in NETWORK_KINDS:
        return "name a link as <client|wN|*>.<broker|backend|*>, e.g. w0.broker or *.backend"
    if kind in SERVER_KINDS:
        return f"name {' or '.join(SERVER_KINDS[FaultKind(kind)])}"
    return "name a worker wN (w0, w1, ...) or @anchor"
