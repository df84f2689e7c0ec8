"""A cluster: broker redis-server, result backend, worker nodes, a client app and the ledger.

One cluster serves many canvases (runs never share ids, and the ledger is read per run). The
broker and the Redis result backend are separate servers so that each can be faulted on its
own. Start-up reaps what a killed run left, spawns every worker before waiting for any (cold
start is one worker's boot, not the sum), and on any failure stops what it already started and
raises a one-line HarnessError. ``close()`` (or leaving the ``with`` block, however it is left)
stops everything started.
"""

from __future__ import annotations

import gc
import os
import time
import uuid
from pathlib import Path
from types import TracebackType

from celery import Celery

from chord_chaos.harness.app import make_app
from chord_chaos.harness.errors import HarnessError
from chord_chaos.harness.procs import Supervisor, default_state_dir
from chord_chaos.harness.redis_server import RedisServer
from chord_chaos.harness.workers import READY_TIMEOUT, WorkerNode, wait_ready

BACKENDS = ("redis", "database")
WORKER_GRACE = 5.0  # warm shutdown of idle workers takes about a second


class Cluster:
    """``with Cluster(backend="redis") as c: c.app.signature(...).apply_async()``."""

    def __init__(self, backend: str = "redis", nodes: int = 2, concurrency: int = 2,
                 database_url: str | None = None, run_dir: Path | None = None,
                 state_dir: Path | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        if backend not in BACKENDS:
            raise HarnessError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        for field, value in (("nodes", nodes), ("concurrency", concurrency)):
            if not isinstance(value, int) or value < 1:
                raise HarnessError(f"{field} must be an integer of at least 1, got {value!r}")
        if database_url is not None and backend != "database":
            raise HarnessError(f"database_url applies only to backend 'database', not {backend!r}; "
                               "drop it or pass backend='database'")
        self.backend = backend
        self.nodes = nodes
        self.concurrency = concurrency
        self.database_url = _database_url(database_url) if database_url else None
        self.ready_timeout = ready_timeout
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.run_dir = (run_dir or self.state_dir / (
            f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}")).resolve()
        self.supervisor: Supervisor | None = None
        self.broker: RedisServer | None = None
        self.backend_redis: RedisServer | None = None
        self.workers: list[WorkerNode] = []
        self.app: Celery = Celery("chord_chaos-not-started", set_as_current=False)
        self.broker_url = ""
        self.backend_url = ""
        self.started_in = 0.0

    @property
    def ledger_dir(self) -> Path:
        return self.run_dir / "ledger"

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> Cluster:
        """Start everything; on failure stop what started and raise a one-line HarnessError."""
        t0 = time.monotonic()
        try:
            self._start()
        except HarnessError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            message = " ".join(f"cluster start failed: {type(exc).__name__}: {exc}".split())
            raise HarnessError(message) from exc
        except BaseException:
            self.close()
            raise
        self.started_in = time.monotonic() - t0
        return self

    def _start(self) -> None:
        self.supervisor = Supervisor(self.state_dir)  # reaps what a killed run left
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        self.broker = RedisServer(self.supervisor, self.run_dir, "broker").start()
        self.broker_url = self.broker.url(0)
        if self.backend == "redis":
            self.backend_redis = RedisServer(self.supervisor, self.run_dir, "backend").start()
            self.backend_url = self.backend_redis.url(0)
        else:
            self.backend_url = self.database_url or f"db+sqlite:///{self.run_dir / 'results.sqlite'}"
        env = {"CC_BROKER_URL": self.broker_url, "CC_BACKEND_URL": self.backend_url,
               "CC_LEDGER_DIR": str(self.ledger_dir)}
        # Spawned from this thread on purpose: PDEATHSIG fires when the spawning thread ends.
        self.workers = [WorkerNode(self.supervisor, f"w{i}", env, self.concurrency, self.run_dir).start()
                        for i in range(self.nodes)]
        self.app = make_app(self.broker_url, self.backend_url)  # built while the workers boot
        wait_ready(self.app, self.workers, self.ready_timeout)

    def health(self) -> list[str]:
        """The harness's own processes that died: a run that saw this is ``unknown``."""
        problems = [f"worker {w.hostname} is not running" for w in self.workers if not w.alive()]
        for server in (self.broker, self.backend_redis):
            if server is not None and not server.alive():
                problems.append(f"redis-server ({server.role}) is not running")
        return problems

    def close(self) -> None:
        """Stop workers first (a warm shutdown needs its broker), then the redis-servers."""
        # Result objects unsubscribe from the backend when collected: collect them while the
        # servers still run, or each one retries against a closed port at interpreter exit.
        gc.collect()
        try:
            self.app.close()
        finally:
            if self.supervisor is not None:
                procs = [w.proc for w in self.workers if w.proc is not None]
                self.supervisor.stop_many(procs, grace=WORKER_GRACE)
                for w in self.workers:
                    w.proc = None
                self.supervisor.stop_all()


def _database_url(url: str) -> str:
    """Any SQLAlchemy URL, with or without Celery's ``db+`` prefix; a malformed one is an error."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    bare = url.removeprefix("db+")
    try:
        make_url(bare)
    except ArgumentError as exc:
        raise HarnessError(f"database_url {url!r} is not a SQLAlchemy URL ({exc}); "
                           "use e.g. sqlite:////tmp/results.sqlite or postgresql://user@host/db") from exc
    return f"db+{bare}"
