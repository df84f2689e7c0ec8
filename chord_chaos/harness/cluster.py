"""A cluster: broker redis-server, result backend, worker nodes, a client app and the ledger.

One cluster serves many canvases (runs never share ids, and the ledger is read per run). The
broker and the Redis result backend are separate servers so that each can be faulted on its
own. ``close()`` (or leaving the ``with`` block, however it is left) stops everything started.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from types import TracebackType

from celery import Celery

from chord_chaos.harness.app import make_app
from chord_chaos.harness.errors import HarnessError
from chord_chaos.harness.procs import Supervisor
from chord_chaos.harness.redis_server import RedisServer
from chord_chaos.harness.workers import WorkerNode, wait_ready

BACKENDS = ("redis", "database")
STATE_DIR = Path(".cc-runs")


class Cluster:
    def __init__(self, backend: str = "redis", nodes: int = 2, concurrency: int = 2,
                 database_url: str | None = None, run_dir: Path | None = None,
                 state_dir: Path = STATE_DIR) -> None:
        if backend not in BACKENDS:
            raise HarnessError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        if nodes < 1 or concurrency < 1:
            raise HarnessError("nodes and concurrency must be at least 1")
        self.backend = backend
        self.nodes = nodes
        self.concurrency = concurrency
        self.database_url = database_url
        self.state_dir = state_dir.resolve()
        self.run_dir = (run_dir or self.state_dir / f"run-{time.strftime('%Y%m%d-%H%M%S')}-"
                        f"{id(self) % 100000}").resolve()
        self.supervisor: Supervisor | None = None
        self.broker: RedisServer | None = None
        self.backend_redis: RedisServer | None = None
        self.workers: list[WorkerNode] = []
        self.app: Celery = make_app("memory://", "cache+memory://")
        self.broker_url = ""
        self.backend_url = ""
        self.started_in = 0.0

    @property
    def ledger_dir(self) -> Path:
        return self.run_dir / "ledger"

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        t0 = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(self.state_dir)
        self.broker = RedisServer(self.supervisor, self.run_dir, "broker").start()
        self.broker_url = self.broker.url(0)
        if self.backend == "redis":
            self.backend_redis = RedisServer(self.supervisor, self.run_dir, "backend").start()
            self.backend_url = self.backend_redis.url(0)
        else:
            self.backend_url = self.database_url or f"db+sqlite:///{self.run_dir / 'results.sqlite'}"
        env = {"CC_BROKER_URL": self.broker_url, "CC_BACKEND_URL": self.backend_url,
               "CC_LEDGER_DIR": str(self.ledger_dir)}
        self.app = make_app(self.broker_url, self.backend_url)
        self.workers = [
            WorkerNode(self.supervisor, f"w{i}", env, self.concurrency, self.run_dir).start()
            for i in range(self.nodes)
        ]
        wait_ready(self.app, self.workers)
        self.started_in = time.monotonic() - t0

    def health(self) -> list[str]:
        """The harness's own processes that died: a run that saw this is ``unknown``."""
        problems = [f"worker {w.hostname} is not running" for w in self.workers if not w.alive()]
        for server in (self.broker, self.backend_redis):
            if server is not None and not server.alive():
                problems.append(f"redis-server ({server.role}) is not running")
        return problems

    def close(self) -> None:
        # Result objects unsubscribe from the backend when collected: collect them while the
        # servers still run, or each one retries against a closed port at interpreter exit.
        gc.collect()
        try:
            self.app.close()
        finally:
            if self.supervisor is not None:
                self.supervisor.stop_all()
