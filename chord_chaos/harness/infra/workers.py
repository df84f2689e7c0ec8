"""Real ``celery worker`` processes (prefork pool) running the instrumented app.

A node is started without mingle, gossip and heartbeats: they cost start-up time (mingle alone
waits a second for replies) and nothing in a run depends on them. Ready means the node answers
a ping through the broker, which proves its remote-control consumer, and so its task consumer,
is up; a log line would not. Pool children carry Celery's own PR_SET_PDEATHSIG(SIGKILL), so
killing the main process takes the whole node down, as a machine crash would.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
from celery import Celery
from kombu.exceptions import OperationalError

from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.ports import HOST
from chord_chaos.harness.infra.supervisor import Managed, Supervisor

APP_MODULE = "chord_chaos.harness.worker.app"
READY_TIMEOUT = 30.0
PING_TIMEOUT = 0.1  # per round; a round ends early once every pending node has replied
BRPOP_TIMEOUT = 0.05  # kombu's reply poll on the ping connection (default 1 s, see wait_ready)


def worker_argv(name: str, concurrency: int, queue: str = "celery") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", APP_MODULE, "worker", "-P", "prefork",
            "-c", str(concurrency), "-n", f"{name}@{HOST}", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "-l", "INFO", "-Q", queue]


class WorkerNode:
    """One worker node; ``env`` carries CC_BROKER_URL, CC_BACKEND_URL and CC_LEDGER_DIR."""

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

    @property
    def log(self) -> Path:
        return self.workdir / f"worker-{self.name}.log"

    def start(self) -> WorkerNode:
        """Spawn only, without waiting: start many nodes, then ``wait_ready`` for all at once."""
        argv = worker_argv(self.name, self.concurrency, self.queue)
        self.proc = self.supervisor.spawn(argv, f"worker-{self.name}", self.log,
                                          env={**self.env, "CC_NODE_NAME": self.hostname})
        return self

    def wait_ready(self, app: Celery, timeout: float = READY_TIMEOUT) -> WorkerNode:
        wait_ready(app, [self], timeout)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    @property
    def pid(self) -> int:
        """The main process (the one that consumes from the broker and owns the pool)."""
        if self.proc is None:
            raise HarnessError(f"celery worker {self.hostname} is not running")
        return self.proc.pid

    def pool_pids(self) -> list[int]:
        """The prefork pool children, the processes that execute tasks."""
        if not self.alive():
            return []
        try:
            return [c.pid for c in psutil.Process(self.pid).children()]
        except psutil.Error:
            return []

    def wait_exit(self, timeout: float) -> bool:
        """Bounded wait for the main process to exit on its own (a warm shutdown); True if it did."""
        return self.proc is None or self.proc.wait_exit(timeout)

    def kill_child(self, pid: int) -> bool:
        """SIGKILL one pool process; False (nothing sent) if ``pid`` is not one of ours."""
        if pid not in self.pool_pids():
            return False
        os.kill(pid, signal.SIGKILL)
        return True

    def last_error(self) -> str:
        """``: <the last CRITICAL line of its log>``, or nothing: why a worker exited by itself."""
        try:
            return last_critical(self.log.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the main process only: SIGKILL is a node crash (the pool dies with it),
        SIGTERM a warm shutdown, SIGQUIT a cold one."""
        if self.proc is not None:
            self.proc.send_signal(sig)

    def stop(self, grace: float = 10.0) -> int | None:
        """Warm shutdown (SIGTERM: running tasks finish), SIGKILL to the group after ``grace``."""
        if self.proc is None:
            return None
        code = self.supervisor.stop(self.proc, grace=grace)
        self.proc = None
        return code

    def respawn(self, grace: float = 10.0) -> WorkerNode:
        """Stop (if still running) and start with the same name, without waiting for it."""
        self.stop(grace)
        return self.start()

    def restart(self, app: Celery, grace: float = 10.0, timeout: float = READY_TIMEOUT) -> WorkerNode:
        """``respawn``, then wait until it answers."""
        return self.respawn(grace).wait_ready(app, timeout)


def last_critical(log: str) -> str:
    """``: <message of the last CRITICAL line>`` of a worker's log, or nothing."""
    critical = [line for line in log.splitlines() if "CRITICAL/" in line]
    return f": {critical[-1].split('] ', 1)[-1][:200]}" if critical else ""


def wait_ready(app: Celery, workers: list[WorkerNode], timeout: float = READY_TIMEOUT) -> None:
    """Bounded wait until every node answers a ping; one broadcast per round covers all nodes.

    A ping sent before a node subscribed to its control queue is lost, so rounds repeat; a
    node that exits, or the deadline, is a one-line HarnessError naming the log to read.
    """
    pending = {w.hostname: w for w in workers}
    deadline = time.monotonic() + timeout
    while pending:
        for w in pending.values():
            if not w.alive():
                code = f" (exit status {w.proc.exit_status()})" if w.proc else ""
                raise HarnessError(f"celery worker {w.hostname} exited at start{code}; see {w.log}: "
                                   f"{w.proc.log_tail(2) if w.proc else ''}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logs = ", ".join(str(w.log) for w in pending.values())
            raise HarnessError(f"celery worker(s) {', '.join(sorted(pending))} did not answer a "
                               f"ping within {timeout:g} s; see {logs}")
        # Its own connection with a short BRPOP: a pooled connection still has the previous
        # round's BRPOP in flight (kombu's default timeout, 1 s) and sees replies only after it,
        # which made every cold start a second slower than the workers.
        try:
            with app.connection_for_write(transport_options={"polling_interval": BRPOP_TIMEOUT}) as conn:
                replies = app.control.ping(destination=list(pending), connection=conn,
                                           timeout=min(PING_TIMEOUT, remaining), limit=len(pending))
        except (OperationalError, OSError) as exc:
            raise HarnessError(f"broker {app.conf.broker_url} unreachable while waiting for "
                               f"{', '.join(sorted(pending))}: {exc}") from exc
        for reply in replies or []:
            for hostname in reply:
                pending.pop(hostname, None)
