"""One canvas under one fault plan, on a chaos cluster, with Maelstrom's fixed phases.

submit -> faults (the nemesis, stepped in the runner's nemesis thread) -> heal everything -> recovery
window (``get()`` may still resolve) -> settle the ledger -> History on disk -> check ->
reset the cluster for the next run. The client retries ``get()`` through connection errors
(they are the faults', recorded in the history), so a fault on the client's own links is seen
by the client but does not end its wait.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery.exceptions import TimeoutError as CeleryTimeout
from kombu.exceptions import OperationalError

from chord_chaos.check.events import Event
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import check
from chord_chaos.harness.cluster import broker_probe
from chord_chaos.harness.cluster.protocols import ChaosCluster
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.supervisor import raise_if_interrupted
from chord_chaos.harness.infra.versions import celery_under_test
from chord_chaos.harness.run.batch import POLL_INTERVAL, run_meta, servers_of, settle
from chord_chaos.harness.run.bounded_get import get_within
from chord_chaos.harness.run.compile import compile_workload
from chord_chaos.harness.run.delivery_records import client_publishes, read_deliveries
from chord_chaos.harness.run.history_files import save_history
from chord_chaos.harness.run.latches import Latches
from chord_chaos.harness.run.ledger_reader import LedgerTail
from chord_chaos.harness.run.nemesis import Nemesis
from chord_chaos.harness.run.stored_states import stored_states
from chord_chaos.harness.worker.settings_env import user_settings
from chord_chaos.models.canvas import workload_to_json
from chord_chaos.models.faults import SLOW, FaultPlan
from chord_chaos.models.guarantees import VISIBILITY_TIMEOUT
from chord_chaos.models.semantics import predict
from chord_chaos.models.settings import delivery_in_force, with_canvas_settings

RECOVERY = VISIBILITY_TIMEOUT + 5.0  # a killed worker's message comes back after the visibility timeout
ANCHOR_WAIT = 20.0  # an anchored fault whose anchor has not happened by then is skipped
SETTLE = 3.0
MAX_HEAL = 60.0  # restarting every faulted process, each bounded by its own ready timeout
PROBE_GAP = 0.5  # between the two broker probes of an unresolved run
GET_SLICE = 0.5  # get() waits in slices so that a connection error is retried promptly
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError, OSError)


class _ClientLog(logging.Handler):
    """What Celery and kombu log in the client while a run is faulted (a result backend that
    lost its connection retries by itself, so get() may never raise): the client's view too."""

    LOGGERS = ("celery", "kombu")

    def __init__(self, client: _Client) -> None:
        super().__init__(logging.WARNING)
        self.client = client

    def emit(self, record: logging.LogRecord) -> None:
        self.client.errors.append(f"{time.monotonic() - self.client.t0:.3f}s log {record.name}: "
                                  f"{record.getMessage()[:120]}")

    def __enter__(self) -> _ClientLog:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


@dataclass
class _Client:
    """The client's wait for one result. It runs in the main thread: Celery's Redis result
    consumer does not deliver a GroupResult to a ``get()`` called from another thread."""

    result: Any
    t0: float
    deadline: float
    view: ClientView | None = None
    errors: list[str] = field(default_factory=list)

    def wait(self, faults: Future[None], recovery: float) -> None:
        """Wait in slices: retry connection errors, and start the recovery window once the
        fault phase (healing included) is over."""
        healed = False
        while True:
            raise_if_interrupted()
            if not healed and faults.done():
                healed = True
                self.deadline = time.monotonic() + recovery
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.view = ClientView("TIMEOUT", elapsed=time.monotonic() - self.t0)
                return
            try:
                value = get_within(self.result, min(remaining, GET_SLICE))
                self.view = ClientView("SUCCESS", value, elapsed=time.monotonic() - self.t0)
                return
            except CeleryTimeout:
                continue
            except CONNECTION_ERRORS as exc:
                if self._stored_failure():
                    self._failed(exc)
                    return
                self.errors.append(f"{time.monotonic() - self.t0:.3f}s {type(exc).__name__}: "
                                   f"{str(exc)[:120]}")
                time.sleep(0.1)
            except Exception as exc:
                self._failed(exc)
                return

    def _stored_failure(self) -> bool:
        """A connection error class can also be the task's own stored failure."""
        try:
            return bool(self.result.state == "FAILURE")
        except Exception:
            return False

    def _failed(self, exc: BaseException) -> None:
        self.view = ClientView("FAILURE", error=type(exc).__name__, message=str(exc)[:300],
                               elapsed=time.monotonic() - self.t0)


class ChaosRunner:
    """Runs cases one at a time; ``close()`` it after closing the cluster.

    The nemesis runs in one long-lived thread of the runner's own: a worker or redis-server it
    restarts carries PR_SET_PDEATHSIG, which fires when the thread that spawned it ends, so
    that thread must outlive every run (it ends at ``close()``).
    """

    def __init__(self, cluster: ChaosCluster, out_dir: Path, recovery: float = RECOVERY,
                 settle: float = SETTLE, strict: bool = False) -> None:
        self.cluster = cluster
        self.strict = strict
        self.out_dir = out_dir
        self.recovery = recovery
        self.settle = settle
        self.tail = LedgerTail(cluster.ledger_dir)
        self.deliveries = read_deliveries(cluster.ledger_dir)
        self.nemesis_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nemesis")
        self.broken: str | None = None  # why the cluster could not be reset after the last run
        self._stopping = threading.Event()
        self.settings = user_settings()  # --config: applied by the cluster's apps, recorded per run
        self.target = celery_under_test()  # read once: the same for every run of this process
        self.servers = servers_of(cluster)

    def stop(self) -> None:
        """Ask the fault phase in flight to stop without healing (the cluster is being torn
        down: Ctrl-C); returns at once."""
        self._stopping.set()

    def close(self) -> None:
        self.stop()
        self.nemesis_thread.shutdown(wait=True, cancel_futures=True)

    def run(self, job: Job, plan: FaultPlan) -> RunResult:
        """Run one case; a HarnessError if the previous run left the cluster broken."""
        raise_if_interrupted()
        if self.broken is not None:
            raise HarnessError(f"the cluster could not be reset after the previous run: {self.broken}")
        job = Job(job.label, with_canvas_settings(job.workload, self.settings))
        prediction = predict(job.workload)
        run = uuid.uuid4().hex[:12]
        latches = Latches(self.cluster.ledger_dir, run, plan)  # armed before any task can start
        t0 = time.monotonic()
        nemesis = Nemesis(self.cluster, plan, t0, latches)
        harness_errors: list[str] = []
        client = _Client(None, t0, t0 + plan.window + ANCHOR_WAIT + self.recovery + MAX_HEAL)
        sent: list[Event] = []
        try:
            sig = compile_workload(self.cluster.app, job.workload, run)
            with client_publishes(run) as sent:
                client.result = sig.apply_async(args=job.workload.args, kwargs=job.workload.kwargs)
        except Exception as exc:  # nothing is faulted yet: the harness could not submit
            harness_errors.append(f"submitting failed: {type(exc).__name__}: {exc}")
        client_done = threading.Event()
        faults = self.nemesis_thread.submit(self._fault_phase, nemesis, run, client_done,
                                            t0 + plan.window + ANCHOR_WAIT)
        if client.result is not None:
            with _ClientLog(client):
                client.wait(faults, self.recovery)
        client_done.set()
        try:
            faults.result(timeout=plan.window + ANCHOR_WAIT + MAX_HEAL)
        except FutureTimeout:
            harness_errors.append("the nemesis did not finish healing in time")
        view = client.view or ClientView("TIMEOUT", elapsed=time.monotonic() - t0)
        exits = tuple(nemesis.exits + self.cluster.worker_exits())
        settle(self.tail, [(prediction, run)], self.settle)
        latches.clear()
        harness_errors += self.cluster.infra_health() + nemesis.errors
        deliveries, broker = self._where_messages_went(run, sent, view)
        events = self.tail.events(run)
        history = History(
            run=run, workload=workload_to_json(job.workload), backend=self.cluster.backend,
            client=view, events=events,
            states=stored_states(self.cluster.app, events) if view.status == "TIMEOUT" else {},
            timeout=round(client.deadline - t0, 3), harness_errors=tuple(harness_errors),
            meta=run_meta(job.label, t0, self.strict, self.target, self.settings, chaos=True,
                          **self.servers),
            celery=self.target["version"],
            delivery=delivery_in_force(self.cluster.delivery, self.settings),
            faults=plan.to_json(), nemesis=tuple(nemesis.records()),
            client_errors=tuple(client.errors), worker_exits=exits,
            deliveries=deliveries, broker=broker,
        )
        self.tail.forget(run)
        path = save_history(history, self.out_dir / "histories")  # on disk before any check runs
        verdict = check(prediction, history)
        try:
            full = bool(harness_errors or history.worker_exits) or any(c != SLOW for c in plan.classes)
            self.cluster.reset(full=full)
        except HarnessError as exc:  # this run's result stands; the next one cannot start
            self.broken = str(exc)
        return RunResult(job, prediction, history, verdict, path)

    def _where_messages_went(self, run: str, sent: list[Event], view: ClientView
                             ) -> tuple[tuple[Event, ...], dict[str, Any]]:
        """For a result that never resolved: every message sent and started, and where the
        unstarted ones are now, probed twice (the evidence of a message lost off the queue)."""
        if view.status != "TIMEOUT":
            self.deliveries.poll()
            self.deliveries.forget(run)
            return (), {}
        probes = []
        for pause in (0.0, PROBE_GAP):
            time.sleep(pause)
            self.deliveries.poll()
            records = tuple(sorted([*sent, *self.deliveries.events(run)], key=lambda e: e.mono))
            received = {(e.task_id, e.attempt) for e in records if e.kind == "receive"}
            unstarted = sorted({e.task_id for e in records if e.kind == "publish" and e.task_id
                                and (e.task_id, e.attempt) not in received})
            probes.append(self.cluster.probe_broker(unstarted))
        self.deliveries.forget(run)
        return records, broker_probe.merge_probes(*probes)

    def _fault_phase(self, nemesis: Nemesis, run: str, client_done: threading.Event,
                     anchor_deadline: float) -> None:
        """Step the nemesis until every fault is healed (anchors that never come are skipped),
        then heal whatever is left; runs in the nemesis thread."""
        try:
            while not nemesis.done and not self._stopping.is_set():
                self.tail.poll()
                nemesis.step(self.tail.events(run))
                if nemesis.only_anchors_pending and (client_done.is_set()
                                                     or time.monotonic() > anchor_deadline):
                    nemesis.skip_unanchored("skipped: its anchor event never happened in this run")
                time.sleep(POLL_INTERVAL)
        finally:
            if not self._stopping.is_set():
                nemesis.heal_all()
