"""The batch runner: fault-free workloads in, checked histories out, on one running cluster.

Phases per batch: predict -> submit every canvas -> wait for each result (bounded) -> let
the ledger settle (until every predicted execution has started and ended, then a short
grace for late duplicates) -> write each History to disk -> check. A batch settles while
the next one runs, so the grace costs no wall time. Runs in a batch share
the cluster but never each other's messages or results: each has a fresh run id, and the
ledger is read per run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout

from chord_chaos.check.events import Event, executions_by_node
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import check
from chord_chaos.harness.cluster.protocols import RunnableCluster
from chord_chaos.harness.infra.supervisor import raise_if_interrupted
from chord_chaos.harness.infra.versions import celery_under_test
from chord_chaos.harness.run.bounded_get import get_within
from chord_chaos.harness.run.compile import compile_workload
from chord_chaos.harness.run.history_files import save_history
from chord_chaos.harness.run.ledger_reader import LedgerTail
from chord_chaos.harness.run.stored_states import stored_states
from chord_chaos.harness.worker.settings_env import user_settings
from chord_chaos.models.canvas import workload_to_json
from chord_chaos.models.semantics import Prediction, predict
from chord_chaos.models.settings import delivery_in_force, with_canvas_settings

POLL_INTERVAL = 0.01


@dataclass
class _Pending:
    job: Job
    prediction: Prediction
    run: str
    submitted: float
    result: Any = None
    client: ClientView | None = None
    error: str | None = None


class BatchRunner:
    """Fault-free runs on a plain cluster, many canvases in flight at once."""

    def __init__(self, cluster: RunnableCluster, out_dir: Path, timeout: float = 30.0,
                 settle: float = 5.0, grace: float = 0.05, strict: bool = False) -> None:
        self.cluster = cluster
        self.strict = strict
        self.out_dir = out_dir
        self.timeout = timeout
        self.settle = settle
        self.grace = grace
        self.tail = LedgerTail(cluster.ledger_dir)
        self.settings = user_settings()  # --config: applied by the cluster's apps, recorded per run
        self.target = celery_under_test()  # read once: the same for every run of this process
        self.servers = servers_of(cluster)

    def run(self, jobs: Sequence[Job], batch: int = 8) -> Iterator[RunResult]:
        """Batches are pipelined: a batch's ledger settles while the next batch runs."""
        previous: list[_Pending] = []
        for start in range(0, len(jobs), batch):
            raise_if_interrupted()
            pending = [self._submit(job) for job in jobs[start:start + batch]]
            done = self._close(previous)  # runs while the new batch executes
            waiting_from = time.monotonic()
            for p in pending:
                self._wait(p, waiting_from)
            yield from done
            previous = pending
        yield from self._close(previous)

    def start(self, jobs: Sequence[Job]) -> list[_Pending]:
        """Submit ``jobs`` and return at once; ``finish`` them later (fuzz keeps the cluster busy
        with one draw while it checks the one before)."""
        raise_if_interrupted()
        return [self._submit(job) for job in jobs]

    def finish(self, pending: list[_Pending]) -> list[RunResult]:
        """Wait for started jobs, settle, check. Each is bounded from its first task's start
        (the ledger), or from now when none has started: a canvas queued behind others is not
        hung, one that started long ago and has not resolved is."""
        self.tail.poll()
        now = time.monotonic()
        for p in pending:
            starts = [e.mono for e in self.tail.events(p.run) if e.kind == "start"]
            self._wait(p, min(starts) / 1e9 if starts else now)
        return self._close(pending)

    def _close(self, pending: list[_Pending]) -> list[RunResult]:
        if not pending:
            return []
        self._settle(pending)
        health = self.cluster.health()
        return [self._finish(p, health) for p in pending]

    def _submit(self, job: Job) -> _Pending:
        job = Job(job.label, with_canvas_settings(job.workload, self.settings))
        p = _Pending(job, predict(job.workload), uuid.uuid4().hex[:12], time.monotonic())
        try:
            sig = compile_workload(self.cluster.app, job.workload, p.run)
            p.result = sig.apply_async(args=job.workload.args, kwargs=job.workload.kwargs)
        except Exception as exc:  # the broker refused: the harness could not run this canvas
            p.error = f"submitting failed: {type(exc).__name__}: {exc}"
        return p

    def _wait(self, p: _Pending, waiting_from: float) -> None:
        """Bounded get(); the bound counts from submission, or from when the runner turned to
        this batch if settling the previous one took longer."""
        if p.result is None:
            p.client = ClientView("TIMEOUT", elapsed=0.0)
            return
        remaining = max(0.05, max(p.submitted, waiting_from) + self.timeout - time.monotonic())
        try:
            value = get_within(p.result, remaining)
            p.client = ClientView("SUCCESS", value, elapsed=time.monotonic() - p.submitted)
        except CeleryTimeout:
            p.client = ClientView("TIMEOUT", elapsed=time.monotonic() - p.submitted)
        except Exception as exc:
            p.client = ClientView("FAILURE", error=type(exc).__name__, message=str(exc)[:300],
                                  elapsed=time.monotonic() - p.submitted)

    def _settle(self, pending: list[_Pending]) -> None:
        """Wait until the ledger holds every predicted execution, finished; then a grace."""
        settle(self.tail, [(p.prediction, p.run) for p in pending], self.settle)
        time.sleep(self.grace)
        self.tail.poll()

    def _finish(self, p: _Pending, health: list[str]) -> RunResult:
        errors = tuple(health) + ((p.error,) if p.error else ())
        assert p.client is not None
        events = self.tail.events(p.run)
        states = stored_states(self.cluster.app, events) if p.client.status == "TIMEOUT" else {}
        history = History(
            run=p.run, workload=workload_to_json(p.job.workload), backend=self.cluster.backend,
            client=p.client, events=events, timeout=self.timeout, states=states,
            harness_errors=errors,
            meta=run_meta(p.job.label, p.submitted, self.strict, self.target, self.settings,
                          **self.servers),
            celery=self.target["version"],
            delivery=delivery_in_force(None, self.settings),
        )
        self.tail.forget(p.run)
        path = save_history(history, self.out_dir / "histories")  # on disk before any check runs
        return RunResult(p.job, p.prediction, history, check(p.prediction, history), path)


def servers_of(cluster: object) -> dict[str, str]:
    """What a history records of the cluster's servers beyond the defaults: ``broker`` when it
    is not Redis, ``database`` when the database backend runs on PostgreSQL."""
    out = {}
    broker = str(getattr(cluster, "broker_kind", "redis"))
    if broker != "redis":
        out["broker"] = broker
    if getattr(cluster, "backend_choice", None) == "postgres":
        out["database"] = "postgres"
    return out


def run_meta(label: str, t0: float, strict: bool, target: dict[str, str], settings: dict[str, Any],
             **more: Any) -> dict[str, Any]:
    """A history's meta: its job label, when it was submitted, the Celery under test when
    ``--celery`` named it, the Celery settings of ``--config`` (which the checks read), and
    ``strict`` when asked for."""
    meta: dict[str, Any] = {"label": label, "t0_mono_ns": int(t0 * 1e9), **more}
    if "spec" in target:
        meta["celery"] = target  # what --celery named: a checkout's path and commit included
    if settings:
        meta["settings"] = settings  # --config: the checks relax what these settings take back
    if strict:
        meta["strict"] = True
    return meta


def settle(tail: LedgerTail, runs: list[tuple[Prediction, str]], seconds: float) -> None:
    """Poll the ledger until every run holds its predicted executions, all finished, or until
    ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        raise_if_interrupted()
        tail.poll()
        if all(_complete(p, tail.events(run)) for p, run in runs) or time.monotonic() > deadline:
            return
        time.sleep(POLL_INTERVAL)


def _complete(prediction: Prediction, events: tuple[Event, ...]) -> bool:
    """Every predicted execution has started, and every start has ended."""
    starts = executions_by_node(events)
    if sum(e.kind == "end" for e in events) < sum(starts.values()):
        return False
    return all(starts.get(n, 0) >= k for n, k in prediction.executions.items())
