"""``chord-chaos fuzz``: the no-fault property (real Celery agrees with the model) as a command.

Hypothesis draws batches of canvases (the plain strategy or a swarm's) from a seed, and each
batch runs on one plain cluster per backend, kept for the whole run, DEPTH batches in flight.
A batch with a violation is reported at once, then shrunk (the list keeps half its canvases,
as trivial as they shrink to, and the failing one shrinks) within the shrink budget, replayed
for its rate, and its failing canvases reported with replay commands. Each backend gets an
equal share of the budget.
"""

from __future__ import annotations

import json
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hypothesis import strategies as st

from chord_chaos.campaign.explore import Found, Rewind, Signature, search
from chord_chaos.campaign.stats import rate
from chord_chaos.campaign.summary import Summary, Tally
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.supervisor import signal_name
from chord_chaos.harness.infra.versions import versions
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.models.canvas import Workload, workload_to_json
from chord_chaos.models.strategies import modelled, workloads
from chord_chaos.models.swarm import swarm_workloads
from chord_chaos.models.vocabulary import VerdictKind
from chord_chaos.report.json_report import Origin, write

SCENARIO = "fuzz"  # the summary's scenario name: no faults, a plain cluster
DELIVERY = "plain"
TIMEOUT = 12.0  # s each result may take from its first task's start: the slowest drawn canvas
# needs about 3 alone, up to 11 measured with four draws in flight on a loaded machine

# Canvases per draw, and draws in flight at once: most tasks wait (sleeps, chord_unlock polls,
# a canvas of a known issue that never resolves), so the cluster works on the later draws while
# the earliest is judged. The database backend's chord_unlock polls load SQLite: fewer there.
BATCH = {"redis": 40, "database": 30}
DEPTH = 8
CONCURRENCY = 4  # pool processes per worker node
Batch = tuple[Workload, ...]


def batches(size: int) -> st.SearchStrategy[Batch]:
    """Lists of canvases, each from the plain strategy or a swarm, without the few the model
    refuses (dropped here: rejecting one would reject the whole list). Shrinking keeps half of
    them (as trivial as they shrink to) and minimises the failing one."""
    one = st.one_of(workloads(only_modelled=False), swarm_workloads(only_modelled=False))
    return st.lists(one, min_size=size // 2, max_size=size).map(
        lambda drawn: tuple(w for w in drawn if modelled(w)))


def batch_key(batch: Batch) -> str:
    return json.dumps([workload_to_json(w) for w in batch], sort_keys=True)


def backend_seed(seed: int, backend: str) -> int:
    return zlib.crc32(f"fuzz:{seed}:{backend}".encode())


@dataclass
class Fuzz:
    backends: list[str]
    budget: float
    seed: int
    report_dir: Path
    strict: bool = False
    shrink_budget: float = 60.0
    reproduce: int = 3  # replays of each minimal canvas for its reproduction rate
    database: Path | None = None  # Hypothesis example database: known failures are drawn first
    on_run: Callable[[Tally, RunResult], None] | None = None
    tallies: list[Tally] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def run(self) -> Summary:
        """Fuzz every backend in turn; Ctrl-C or SIGTERM ends it early with a summary of what
        finished."""
        started, t0 = time.time(), time.monotonic()
        interrupted: str | None = None
        try:
            for i, backend in enumerate(self.backends):
                left = self.budget - (time.monotonic() - t0)
                tally = Tally(SCENARIO, backend, DELIVERY)
                self.tallies.append(tally)
                _Backend(self, backend, tally, time.monotonic() + left / (len(self.backends) - i),
                         t0).explore()
        except (KeyboardInterrupt, SystemExit) as stop:
            interrupted = signal_name(stop)
        return Summary(self.tallies, self.failures, seed=self.seed, budget=self.budget,
                       started=started, elapsed=time.monotonic() - t0, interrupted=interrupted,
                       versions=versions()).write(self.report_dir)


class Runner(Protocol):
    """What fuzz needs of a BatchRunner: start jobs now, finish (wait, settle, check) later."""

    def start(self, jobs: Sequence[Job]) -> list[Any]: ...

    def finish(self, pending: list[Any]) -> list[RunResult]: ...


@dataclass
class _Backend:
    """One backend's share: a cluster, its batch runner, and what failed on it.

    While drawing, a draw is judged DEPTH - 1 calls late: the judge submits the new draw, then
    checks the earliest in flight while the later ones run (and Hypothesis generates the next),
    so the cluster waits neither for the generator nor for a draw's slowest canvas. A failing draw rewinds the
    round (``Rewind``): Hypothesis draws the same draws again, answered from what is known, up
    to the failing one, which it shrinks with each candidate judged at once."""

    owner: Fuzz
    backend: str
    tally: Tally
    share_end: float
    t0: float
    runner: Runner | None = None
    failing: dict[str, list[RunResult]] = field(default_factory=dict)  # batch key -> its violations
    pending: deque[tuple[Batch, list[Any]]] = field(default_factory=deque)  # in flight, unjudged
    answers: dict[str, Signature | None] = field(default_factory=dict)  # this round's, by key
    replaying: bool = False  # after a rewind, until the failure is shrunk: judge at once
    last_collect: float = field(default_factory=time.monotonic)

    @property
    def seed(self) -> int:
        return backend_seed(self.owner.seed, self.backend)

    def explore(self) -> None:
        with Cluster(backend=self.backend, concurrency=CONCURRENCY) as cluster:
            self.runner = BatchRunner(cluster, self.owner.report_dir, timeout=TIMEOUT, grace=0.1,
                                      strict=self.owner.strict)
            self.hunt()

    def hunt(self) -> None:
        """Draw, judge and shrink until the share is spent."""
        f = self.owner
        database = f.database / self.backend if f.database is not None else None
        search(batches(BATCH.get(self.backend, 40)), self.seed, self.over, self.judge, batch_key,
               self.found, f.shrink_budget, database)
        self.drain()  # the last draws: their failures are reported, unshrunk (the budget is spent)

    def over(self) -> bool:
        """Past the share, or the draws still in flight and the next one (each as long as the
        average so far, a liveness bound at most) would overrun it."""
        t = self.tally
        if time.monotonic() >= self.share_end:
            return True  # also before any draw has been judged (they are judged late)
        per_batch = t.seconds / max(1, t.runs) * BATCH.get(self.backend, 40)
        reserve = min(TIMEOUT, per_batch * (len(self.pending) + 1)) if t.runs else 0.0
        return time.monotonic() + reserve > self.share_end

    def start(self, batch: Batch) -> list[Any]:
        assert self.runner is not None
        return self.runner.start([Job(f"{SCENARIO}#{self.tally.runs + i}", w) for i, w in enumerate(batch)])

    def collect(self, started: list[Any], shrinking: bool) -> list[RunResult]:
        """Finish a started draw; each run's seconds are its share of the wall time since the
        last draw was collected (draws overlap)."""
        assert self.runner is not None
        results = self.runner.finish(started)
        now = time.monotonic()
        each, self.last_collect = (now - self.last_collect) / max(1, len(results)), now
        for result in results:
            self.tally.add(result, each, shrinking)
            if self.owner.on_run is not None:
                self.owner.on_run(self.tally, result)
        return results

    def run(self, batch: Batch, shrinking: bool) -> list[RunResult]:
        self.last_collect = time.monotonic()
        return self.collect(self.start(batch), shrinking)

    def judge(self, batch: Batch, shrinking: bool) -> Signature | None:
        if shrinking and time.monotonic() > self.share_end:
            return None  # the budget is spent: the smallest failing batch so far stands
        if shrinking or self.replaying:
            return self.answer(batch, self.run(batch, shrinking), shrinking)
        self.pending.append((batch, self.start(batch)))
        if len(self.pending) < DEPTH:
            return None  # answered with a later draw
        earliest, started = self.pending.popleft()
        if self.answer(earliest, self.collect(started, False), False) is None:
            return None
        self.drain()
        self.replaying = True
        raise Rewind(dict(self.answers))

    def drain(self) -> None:
        """Judge every draw in flight."""
        while self.pending:
            batch, started = self.pending.popleft()
            self.answer(batch, self.collect(started, False), False)

    def answer(self, batch: Batch, results: list[RunResult], shrinking: bool) -> Signature | None:
        """The checks the draw's violations broke (None when it passed); reports a first
        failure (and an unknown run) at once."""
        bad = [r for r in results if r.verdict.verdict != VerdictKind.PASS]
        for r in bad:
            if r.verdict.verdict == VerdictKind.UNKNOWN and not shrinking:
                self.report(r, Origin(SCENARIO, self.owner.seed, self.seed), "unknown")
        violations = [r for r in bad if r.verdict.verdict == VerdictKind.VIOLATION]
        sig = frozenset(v.check for r in violations for v in r.verdict.violations) or None
        self.answers[batch_key(batch)] = sig
        if violations:
            self.failing[batch_key(batch)] = violations
        if violations and not shrinking:
            for r in violations:
                self.report(r, Origin(SCENARIO, self.owner.seed, self.seed), "first")
        return sig

    def found(self, found: Found[Batch]) -> None:
        """Replay each minimal canvas for its rate and report it; drawing resumes, judged late."""
        self.replaying, self.answers = False, {}
        for result in self.failing[batch_key(found.minimal)]:
            k = n = 0
            while n < self.owner.reproduce and time.monotonic() < self.share_end:
                again = self.run((result.job.workload,), True)[0]
                k, n = k + (again.verdict.verdict == VerdictKind.VIOLATION), n + 1
            origin = Origin(SCENARIO, self.owner.seed, self.seed, found.blob,
                            shrink={"candidates": found.candidates,
                                    "shrunk": batch_key(found.first) != batch_key(found.minimal)},
                            reproduction=rate(k, n) if n else {})
            self.report(result, origin, "minimal")

    def report(self, result: RunResult, origin: Origin, stage: str) -> None:
        path = write(result, origin, self.owner.report_dir,
                     f"{SCENARIO}-{self.backend}-{result.history.run}")
        self.owner.failures.append({
            "scenario": SCENARIO, "backend": self.backend, "stage": stage,
            "verdict": result.verdict.verdict, "run": result.history.run, "report": str(path),
            "replay": f"chord-chaos replay {path}", "reproduction": origin.reproduction,
            "canvas": workload_to_json(result.job.workload),
            "found_after": round(time.monotonic() - self.t0, 1),
            "messages": [v.message for v in result.verdict.violations] + list(result.verdict.reasons)})
