"""Real ``celery worker`` processes (prefork pool) running the instrumented app."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import psutil
from celery import Celery

from chord_chaos.harness.errors import HarnessError
from chord_chaos.harness.ports import HOST
from chord_chaos.harness.procs import Managed, Supervisor

READY_TIMEOUT = 30.0


class WorkerNode:
    def __init__(self, supervisor: Supervisor, name: str, env: dict[str, str], concurrency: int,
                 workdir: Path, queue: str = "celery") -> None:
        self.supervisor = supervisor
        self.name = name
        self.env = env
        self.concurrency = concurrency
        self.workdir = workdir
        self.queue = queue
        self.proc: Managed | None = None

    @property
    def hostname(self) -> str:
        return f"{self.name}@{HOST}"

    def start(self) -> WorkerNode:
        argv = [sys.executable, "-m", "celery", "-A", "chord_chaos.harness.app", "worker",
                "-P", "prefork", "-c", str(self.concurrency), "-n", self.hostname,
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
                "-Q", self.queue]
        self.proc = self.supervisor.spawn(argv, f"worker-{self.name}",
                                          self.workdir / f"worker-{self.name}.log",
                                          env={**self.env, "CC_NODE_NAME": self.hostname})
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pool_pids(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process(self.pid).children()]
        except psutil.Error:
            return []

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            self.proc.popen.send_signal(sig)

    def stop(self, grace: float = 10.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL of the group after ``grace``."""
        if self.proc is not None:
            self.supervisor.stop(self.proc, grace=grace)
            self.proc = None


def wait_ready(app: Celery, workers: list[WorkerNode], timeout: float = READY_TIMEOUT) -> None:
    """Ready means every node answers a ping through the broker."""
    pending = {w.hostname: w for w in workers}
    deadline = time.monotonic() + timeout
    while pending:
        for w in pending.values():
            if not w.alive():
                tail = w.proc.log_tail() if w.proc else ""
                raise HarnessError(f"celery worker {w.hostname} exited at start: {tail}")
        if time.monotonic() > deadline:
            logs = ", ".join(str(w.proc.log) for w in pending.values() if w.proc)
            raise HarnessError(f"celery worker(s) {sorted(pending)} not ready after "
                               f"{timeout:g} s; see {logs}")
        for reply in app.control.ping(destination=list(pending), timeout=0.3) or []:
            for hostname in reply:
                pending.pop(hostname, None)
