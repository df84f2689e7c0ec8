"""The nemesis: applies a fault plan to a running cluster and records what it actually did.

It is stepped (``step``) from the chaos runner's nemesis thread, one long-lived thread per
runner: a restarted worker or redis-server gets PR_SET_PDEATHSIG, which fires when the
*spawning thread* ends, so that thread must outlive every run. Each
fault is applied when due (its ``at`` after submission, or after its anchor event appeared in
the ledger) and healed ``duration`` later; ``heal_all`` heals whatever is still active and is
idempotent. A fault that could not be applied or healed is a harness error: the run becomes
``unknown``, never a pass or a violation.
"""

from __future__ import annotations

import fnmatch
import random
import signal
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import psutil

from chord_chaos.check.events import Event
from chord_chaos.harness.cluster.protocols import FaultableCluster, Worker
from chord_chaos.harness.infra.errors import HarnessError, one_line
from chord_chaos.harness.infra.link_traffic import LinkTraffic
from chord_chaos.harness.infra.toxiproxy import ToxiproxyClient
from chord_chaos.harness.run.latches import Latches
from chord_chaos.models.faults import NETWORK_KINDS, Fault, FaultPlan

JITTER_STEP = 0.1  # seconds between latency updates of a jittered latency fault
WARM_SHUTDOWN_WAIT = 30.0  # scenario tasks take under a second


@dataclass
class _Active:
    """One fault's life: when it is due, what it resolved to, and whether it is healed."""

    index: int
    fault: Fault
    due: float | None  # seconds after submission; None while its anchor has not happened
    anchor_event: Event | None = None
    applied: float | None = None
    healed: float | None = None
    resolved: list[str] = field(default_factory=list)
    error: str | None = None
    note: str | None = None
    rng: random.Random | None = None
    next_jitter: float = 0.0
    heal_from: float | None = None  # when healing began (a warm shutdown may still be finishing)
    latched: bool = False  # its anchor was held at a latch until the fault was applied
    traffic: LinkTraffic | None = None  # a network fault's links, counted from when it was applied

    def record(self) -> dict[str, Any]:
        out = {"fault": self.index, **self.fault.to_json(), "resolved": self.resolved,
               "applied": _r(self.applied), "healed": _r(self.healed),
               "anchor_at": _r(self.due - self.fault.at) if self.fault.anchor and self.due is not None
               else None, "error": self.error, "note": self.note}
        if self.anchor_event is not None:
            out["anchor_task"] = {"node": self.anchor_event.node, "task_id": self.anchor_event.task_id,
                                  "pid": self.anchor_event.pid, "hostname": self.anchor_event.hostname,
                                  "latched": self.latched}
        if self.traffic is not None:
            out["traffic"] = self.traffic.record()
        return out


def _r(t: float | None) -> float | None:
    return None if t is None else round(t, 4)


class Nemesis:
    """``n = Nemesis(cluster, plan, t0, latches)``; ``n.step(events)`` until ``n.done``;
    ``n.heal_all()``. With ``latches``, a fault anchored at a task's start finds its anchor held
    at the latch (so the fault lands while that task runs) and releases it once applied."""

    def __init__(self, cluster: FaultableCluster, plan: FaultPlan, t0: float,
                 latches: Latches | None = None) -> None:
        self.cluster = cluster
        self.t0 = t0
        self.latches = latches
        self.faults = [_Active(i, f, None if f.anchor else f.at) for i, f in enumerate(plan.faults)]
        self.exits: list[str] = []  # workers found dead by a fault meant to stop them
        self.respawned: dict[str, _Active] = {}  # workers started again, not yet seen answering
        seed = zlib.crc32(plan.dumps().encode())  # str hash() differs per process
        for a in self.faults:
            if a.fault.kind == "latency" and a.fault.params.get("jitter"):
                a.rng = random.Random(f"{seed}:{a.index}")  # our jitter, replayable from the plan

    @property
    def done(self) -> bool:
        return all(a.healed is not None or a.error is not None for a in self.faults)

    @property
    def only_anchors_pending(self) -> bool:
        """Every fault is healed, failed or still waiting for its anchor event."""
        return all(a.healed is not None or a.error is not None or a.due is None for a in self.faults)

    @property
    def errors(self) -> list[str]:
        return [f"fault {a.index} ({a.fault.kind} {a.fault.target}): {a.error}"
                for a in self.faults if a.error and a.note != "skipped"]

    def records(self) -> list[dict[str, Any]]:
        return [a.record() for a in self.faults]

    def now(self) -> float:
        return time.monotonic() - self.t0

    def step(self, events: tuple[Event, ...]) -> None:
        """Apply what is due, heal what has lasted its duration, move jittered latencies."""
        for a in self.faults:
            if a.due is None and a.fault.anchor is not None:
                a.latched = self.latches is not None and self.latches.holds(a.index)
                a.anchor_event = (self.latches.held(a.index) if self.latches is not None and a.latched
                                  else _anchor_event(a.fault, events))
                if a.anchor_event is not None:
                    a.due = a.fault.at + (a.anchor_event.mono / 1e9 - self.t0)
            now = self.now()
            if a.due is not None and a.applied is None and a.error is None and now >= a.due:
                a.applied = self.now()  # before acting: the evidence of a hit is judged at this time
                self._guard(a, self._apply)
                if self.latches is not None:
                    self.latches.release(a.index)
            elif a.applied is not None and a.healed is None and a.error is None:
                if now >= a.applied + a.fault.duration:
                    if self._guard(a, self._heal):
                        a.healed = self.now()
                elif a.rng is not None and now >= a.next_jitter:
                    self._guard(a, self._jitter)

    def skip_unanchored(self, reason: str) -> None:
        for a in self.faults:
            if a.due is None and a.error is None:
                a.error, a.note = reason, "skipped"
        if self.latches is not None:
            self.latches.release_all()

    def heal_all(self) -> None:
        """Heal every applied fault not yet healed, the network first, then wait until every
        respawned worker answers: a worker started while its link was still faulted could not
        answer before the network healed, so no heal ever waits for one."""
        if self.latches is not None:
            self.latches.release_all()
        for a in sorted(self.faults, key=lambda a: a.fault.kind not in NETWORK_KINDS):
            pending = a.applied is not None and a.healed is None and a.error is None
            if pending and self._guard(a, lambda a: self._heal(a, force=True)):
                a.healed = self.now()
        if self.respawned:
            names = sorted(self.respawned)
            try:
                self.cluster.await_workers(names)
            except HarnessError as exc:
                for a in self.respawned.values():
                    a.error = a.error or one_line(exc)
            self.respawned.clear()

    def _guard(self, a: _Active, action: Any) -> bool:
        """Run ``action(a)``; False if it is not finished yet or failed (the error recorded)."""
        try:
            return action(a) is not False
        except (HarnessError, OSError, psutil.Error) as exc:
            a.error = one_line(exc)
            return False

    # --- applying and healing, per kind ---

    def _apply(self, a: _Active) -> None:
        f = a.fault
        if f.kind in NETWORK_KINDS:
            a.resolved = self._links(f.target)
            a.traffic = LinkTraffic({n: self.cluster.links[n].listen_port for n in a.resolved})
            for link in a.resolved:
                if f.kind == "partition":
                    self._proxies().disable(link)
                else:
                    self._proxies().add_toxic(link, _toxic_name(a), f.kind, _attributes(a))
            if a.rng is not None:
                self._jitter(a)
        elif f.kind in ("kill_worker", "term_worker"):
            worker = self._worker(a)
            a.resolved = [worker.name]
            if not worker.alive():
                a.note = "worker already down"
                self.exits.append(f"worker {worker.hostname} exited by itself before fault {a.index}"
                                  f"{worker.last_error()}")
                return
            worker.kill(signal.SIGKILL if f.kind == "kill_worker" else signal.SIGTERM)
        elif f.kind == "kill_child":
            self._kill_child(a)
        else:
            server = self.cluster.server(f.kind, f.target)
            a.resolved = [f.target]
            if f.kind == "pause_redis":
                server.pause()
            elif f.kind in ("kill_redis", "kill_rabbitmq"):
                server.kill()
            else:
                server.restart()

    def _heal(self, a: _Active, force: bool = False) -> bool:
        """Heal one fault; False while a warm shutdown is still finishing (unless ``force``d,
        which waits for it), so that the loop goes on healing other faults meanwhile."""
        f = a.fault
        if f.kind in NETWORK_KINDS:
            if a.traffic is not None:
                a.traffic.close()
            for link in a.resolved:
                if f.kind == "partition":
                    self._proxies().enable(link)
                else:
                    self._proxies().remove_toxic(link, _toxic_name(a))
        elif f.kind in ("kill_worker", "term_worker"):
            if f.kind == "term_worker" and not self._shut_down(a, force):
                return False
            for name in a.resolved:
                self.cluster.respawn_worker(name)
                self.respawned[name] = a
        elif f.kind == "pause_redis":
            self.cluster.server(f.kind, f.target).resume()
        elif f.kind in ("kill_redis", "kill_rabbitmq"):
            self.cluster.server(f.kind, f.target).restart()
        return True

    def _shut_down(self, a: _Active, force: bool) -> bool:
        """Whether the warm shutdown is over, or has taken WARM_SHUTDOWN_WAIT (then the restart
        stops it). It ends by itself once running tasks finish; stopping it early would
        SIGTERM the pool too, which is not the fault that was asked for."""
        a.heal_from = self.now() if a.heal_from is None else a.heal_from
        left = a.heal_from + WARM_SHUTDOWN_WAIT - self.now()
        workers = [self.cluster.worker(name) for name in a.resolved]
        if force:
            ended = all(w.wait_exit(max(0.0, left)) for w in workers)
        else:
            ended = not any(w.alive() for w in workers)
            if not ended and left > 0:
                return False
        if not ended:
            a.note = f"warm shutdown took over {WARM_SHUTDOWN_WAIT:g} s; stopped"
        return True

    def _jitter(self, a: _Active) -> None:
        assert a.rng is not None
        base, spread = a.fault.params.get("latency", 0.0), a.fault.params.get("jitter", 0.0)
        latency = max(0, round(base + a.rng.uniform(-spread, spread)))
        for link in a.resolved:
            self._proxies().update_toxic(link, _toxic_name(a), {"latency": latency, "jitter": 0})
        a.next_jitter = self.now() + JITTER_STEP

    def _kill_child(self, a: _Active) -> None:
        """SIGKILL one pool child: the anchor's own process, or the lowest pid of the node."""
        worker = self._worker(a)
        pid = a.anchor_event.pid if a.anchor_event is not None else min(worker.pool_pids(), default=0)
        a.resolved = [f"{worker.name}:{pid}"]
        if not worker.kill_child(pid):  # never signal a pid that is not our worker's child
            a.note = f"pid {pid} is no longer a pool child of {worker.name}"

    def _worker(self, a: _Active) -> Worker:
        if a.fault.target != "@anchor":
            return self.cluster.worker(a.fault.target)
        assert a.anchor_event is not None
        return self.cluster.worker(a.anchor_event.hostname.partition("@")[0])

    def _links(self, target: str) -> list[str]:
        names = sorted(n for n in self.cluster.links if fnmatch.fnmatchcase(n, target))
        if not names:
            raise HarnessError(f"no link matches {target!r}; this cluster has "
                               f"{', '.join(sorted(self.cluster.links)) or 'no proxied links'}")
        return names

    def _proxies(self) -> ToxiproxyClient:
        if self.cluster.proxies is None:
            raise HarnessError("network faults need a chaos cluster (Cluster(delivery=...))")
        return self.cluster.proxies


def _toxic_name(a: _Active) -> str:
    return f"cc-{a.index}-{a.fault.kind}"


def _attributes(a: _Active) -> dict[str, float]:
    """Toxiproxy attributes; a latency's jitter is ours (moved by ``_jitter``), never the server's."""
    params = {k: v for k, v in a.fault.params.items() if k != "jitter"}
    if a.fault.kind == "latency":
        params["jitter"] = 0
    return {k: int(v) for k, v in params.items()}


def _anchor_event(f: Fault, events: tuple[Event, ...]) -> Event | None:
    assert f.anchor is not None
    matching = [e for e in events if f.anchor.matches(e.kind, e.node)]
    return matching[f.anchor.count - 1] if len(matching) >= f.anchor.count else None
