"""A cluster: a broker (redis-server or a RabbitMQ node), a result backend (redis-server,
SQLite or a PostgreSQL server), worker nodes, a client app and the ledger.

One cluster serves many canvases (runs never share ids, and the ledger is read per run). The
broker and the result backend are separate servers so that each can be faulted on its own.
Start-up reaps what a killed run left, spawns every worker before waiting for any (cold start
is one worker's boot, not the sum), and on any failure stops what it already started and
raises a one-line HarnessError. ``close()`` (or leaving the ``with`` block, however it is left)
stops everything started.

A chaos cluster (``delivery=`` given) also runs a Toxiproxy server and routes every link through
its own proxy: ``wN.broker`` and ``wN.backend`` for each worker, ``client.broker`` and
``client.backend`` for the client, so a fault can hit one worker's broker link or every backend
link. The harness's own control path (pinging workers after a restart) goes around the proxies.
"""

from __future__ import annotations

import gc
import os
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from celery import Celery

from chord_chaos.harness.cluster import broker_probe
from chord_chaos.harness.infra.errors import HarnessError, one_line
from chord_chaos.harness.infra.postgres_server import PostgresServer
from chord_chaos.harness.infra.rabbitmq_server import RabbitMQServer, purge
from chord_chaos.harness.infra.redis_server import RedisServer, flush
from chord_chaos.harness.infra.registry import default_state_dir
from chord_chaos.harness.infra.supervisor import Supervisor
from chord_chaos.harness.infra.toxiproxy import Link, ToxiproxyClient, ToxiproxyServer
from chord_chaos.harness.infra.workers import READY_TIMEOUT, WorkerNode, wait_ready
from chord_chaos.harness.worker.app import close_app, make_app
from chord_chaos.models.guarantees import DELIVERIES
from chord_chaos.models.vocabulary import (
    BACKEND_CHOICES,
    BROKER_VAR,
    BROKERS,
    POSTGRES,
    Broker,
    backend_of,
)

WORKER_GRACE = 5.0  # warm shutdown of idle workers takes about a second


class Cluster:
    """``with Cluster(backend="redis") as c: c.app.signature(...).apply_async()``."""

    def __init__(self, backend: str = "redis", nodes: int = 2, concurrency: int = 2,
                 database_url: str | None = None, run_dir: Path | None = None,
                 state_dir: Path | None = None, ready_timeout: float = READY_TIMEOUT,
                 delivery: str | None = None, broker: str | None = None) -> None:
        broker = broker or os.environ.get(BROKER_VAR) or Broker.REDIS
        if backend not in BACKEND_CHOICES:
            raise HarnessError(f"unknown backend {backend!r}; use one of {', '.join(BACKEND_CHOICES)}")
        if broker not in BROKERS:
            raise HarnessError(f"unknown broker {broker!r}; use one of {', '.join(BROKERS)}")
        if delivery is not None and delivery not in DELIVERIES:
            raise HarnessError(f"unknown delivery configuration {delivery!r}; use one of "
                               f"{', '.join(DELIVERIES)}")
        for field, value in (("nodes", nodes), ("concurrency", concurrency)):
            if not isinstance(value, int) or value < 1:
                raise HarnessError(f"{field} must be an integer of at least 1, got {value!r}")
        if database_url is not None and backend != "database":
            raise HarnessError(f"database_url applies only to backend 'database', not {backend!r}; "
                               "drop it or pass backend='database'")
        self.backend = backend_of(backend)  # postgres: the database backend, on our own server
        self.backend_choice = backend
        self.broker_kind = Broker(broker)
        self.nodes = nodes
        self.concurrency = concurrency
        self.database_url = _database_url(database_url) if database_url else None
        self.ready_timeout = ready_timeout
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.run_dir = (run_dir or self.state_dir / (
            f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}")).resolve()
        self.supervisor: Supervisor | None = None
        self.broker: RedisServer | RabbitMQServer | None = None
        self.backend_redis: RedisServer | None = None
        self.postgres: PostgresServer | None = None
        self.workers: list[WorkerNode] = []
        self.delivery = delivery
        self.toxiproxy: ToxiproxyServer | None = None
        self.proxies: ToxiproxyClient | None = None
        self.links: dict[str, Link] = {}
        self.app: Celery = Celery("chord_chaos-not-started", set_as_current=False)
        self.control_app: Celery = self.app  # direct links, for the harness's own pings
        self.broker_url = ""
        self.backend_url = ""
        self.client_urls: dict[str, str] = {}  # the client's own links (proxied on a chaos cluster)
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
            raise HarnessError(f"cluster start failed: {one_line(exc)}") from exc
        except BaseException:
            self.close()
            raise
        self.started_in = time.monotonic() - t0
        return self

    def _start(self) -> None:
        self.supervisor = Supervisor(self.state_dir)  # reaps what a killed run left
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        if self.broker_kind == Broker.RABBITMQ:
            self.broker = RabbitMQServer(self.supervisor, self.run_dir, "broker").start()
        else:
            self.broker = RedisServer(self.supervisor, self.run_dir, "broker").start()
        self.broker_url = self.broker.url_at(self.broker.port or 0)
        if self.backend == "redis":
            self.backend_redis = RedisServer(self.supervisor, self.run_dir, "backend").start()
            self.backend_url = self.backend_redis.url(0)
        elif self.backend_choice == POSTGRES:
            self.postgres = PostgresServer(self.supervisor, self.run_dir, "backend").start()
            self.backend_url = self.postgres.url()
        else:
            self.backend_url = self.database_url or f"db+sqlite:///{self.run_dir / 'results.sqlite'}"
        if self.delivery is not None:
            self.toxiproxy = ToxiproxyServer(self.supervisor, self.run_dir).start()
            self.proxies = self.toxiproxy.client()
        env = {"CC_LEDGER_DIR": str(self.ledger_dir)}
        if self.delivery is not None:
            env["CC_DELIVERY"] = self.delivery
        # Spawned from this thread on purpose: PDEATHSIG fires when the spawning thread ends.
        self.workers = [WorkerNode(self.supervisor, f"w{i}", {**env, **self._urls(f"w{i}")},
                                   self.concurrency, self.run_dir).start()
                        for i in range(self.nodes)]
        self.client_urls = self._urls("client")  # built while the workers boot
        self.app = self._client_app()
        self.control_app = (self.app if self.delivery is None
                            else make_app(self.broker_url, self.backend_url, self.delivery))
        wait_ready(self.control_app, self.workers, self.ready_timeout)

    def _urls(self, who: str) -> dict[str, str]:
        """Broker and backend URLs for ``who`` (a worker name or ``client``): its own proxies."""
        urls = {"CC_BROKER_URL": self.broker_url, "CC_BACKEND_URL": self.backend_url}
        if self.proxies is None:
            return urls
        assert self.broker is not None
        link = self.links[f"{who}.broker"] = self.proxies.create_proxy(f"{who}.broker", self.broker.port or 0)
        urls["CC_BROKER_URL"] = self.broker.url_at(link.listen_port)
        backend = self.backend_redis or self.postgres
        if backend is not None:
            link = self.links[f"{who}.backend"] = self.proxies.create_proxy(
                f"{who}.backend", backend.port or 0)
            urls["CC_BACKEND_URL"] = backend.url_at(link.listen_port)
        return urls

    def _client_app(self) -> Celery:
        return make_app(self.client_urls["CC_BROKER_URL"], self.client_urls["CC_BACKEND_URL"],
                        self.delivery)

    def worker(self, name: str) -> WorkerNode:
        for w in self.workers:
            if w.name == name:
                return w
        raise HarnessError(f"no worker {name!r} in this cluster; it has "
                           f"{', '.join(w.name for w in self.workers)}")

    def redis(self, role: str) -> RedisServer:
        server = {"broker": self.broker, "backend": self.backend_redis}.get(role)
        if not isinstance(server, RedisServer):
            raise HarnessError(f"no redis-server {role!r} in this cluster (broker "
                               f"{self.broker_kind}, backend {self.backend_choice})")
        return server

    def rabbitmq(self) -> RabbitMQServer:
        if not isinstance(self.broker, RabbitMQServer):
            raise HarnessError(f"no RabbitMQ node in this cluster (broker {self.broker_kind}); "
                               "run it with --broker rabbitmq")
        return self.broker

    def postgresql(self) -> PostgresServer:
        if self.postgres is None:
            raise HarnessError(f"no PostgreSQL server in this cluster (backend "
                               f"{self.backend_choice}); run it with --backend postgres")
        return self.postgres

    def server(self, kind: str, role: str) -> RedisServer | RabbitMQServer | PostgresServer:
        if kind.endswith("_rabbitmq"):
            return self.rabbitmq()
        if kind.endswith("_postgres"):
            return self.postgresql()
        return self.redis(role)

    @property
    def servers(self) -> list[RedisServer | RabbitMQServer | PostgresServer]:
        return [s for s in (self.broker, self.backend_redis, self.postgres) if s is not None]

    def respawn_worker(self, name: str, grace: float = WORKER_GRACE) -> None:
        """Stop the node if it still runs and start it again under the same name, not waiting:
        its links may still be faulted (``await_workers`` waits once they are healed)."""
        self.worker(name).respawn(grace)

    def await_workers(self, names: list[str]) -> None:
        """Bounded wait until these nodes answer a ping over the harness's direct links."""
        wait_ready(self.control_app, [self.worker(n) for n in names], self.ready_timeout)

    def reset(self, full: bool) -> None:
        """Between chaos runs: heal the network; with ``full``, also restart every worker and
        empty both Redis servers, so nothing a fault left (a wedged connection, a message
        restored late, a half-joined chord) reaches the next run. The client app is rebuilt."""
        if self.proxies is not None:
            self.proxies.reset()
        if not full:
            return
        assert self.supervisor is not None
        for server in self.servers:
            if not server.alive():
                server.restart()
            if isinstance(server, RedisServer):
                server.resume()  # a paused server the nemesis could not resume
        # Idle or wedged, they need no warm shutdown: the queues are emptied next anyway.
        self.supervisor.stop_many([w.proc for w in self.workers if w.proc is not None], grace=0.0)
        for w in self.workers:
            w.proc = None
        for queues in (self.broker, self.backend_redis):
            if isinstance(queues, RedisServer) and queues.port is not None:
                flush(queues.port)
            elif isinstance(queues, RabbitMQServer) and queues.port is not None:
                purge(queues.port)
        for w in self.workers:
            w.start()
        close_app(self.app)
        self.app = self._client_app()
        wait_ready(self.control_app, self.workers, self.ready_timeout)

    def probe_broker(self, task_ids: list[str]) -> dict[str, Any]:
        """The messages in the broker and the stored states of ``task_ids``, over direct links.
        RabbitMQ cannot list the deliveries its consumers hold: no probe, so no message there
        is ever called lost."""
        if self.broker_kind == Broker.RABBITMQ:
            return {"error": "not probed: RabbitMQ does not list the deliveries a consumer holds"}
        return broker_probe.probe(self.broker_url, self.control_app, task_ids)

    def health(self) -> list[str]:
        """The harness's own processes that died: a run that saw this is ``unknown``."""
        problems = [f"worker {w.hostname} is not running" for w in self.workers if not w.alive()]
        return problems + self.infra_health()

    def worker_exits(self) -> list[str]:
        """Workers that are not running, each with the reason its log gives (Celery's own)."""
        return [f"worker {w.hostname} exited by itself{w.last_error()}" for w in self.workers
                if not w.alive()]

    def infra_health(self) -> list[str]:
        """The servers and proxies the harness runs that died (never Celery's doing)."""
        problems = [f"{server.label} is not running" for server in self.servers if not server.alive()]
        if self.toxiproxy is not None and not self.toxiproxy.alive():
            problems.append("toxiproxy-server is not running")
        return problems

    def close(self) -> None:
        """Stop workers first (a warm shutdown needs its broker), then the redis-servers."""
        # Result objects unsubscribe from the backend when collected: collect them while the
        # servers still run, or each one retries against a closed port at interpreter exit.
        gc.collect()
        try:
            close_app(self.app)
            if self.control_app is not self.app:
                close_app(self.control_app)
        finally:
            if self.supervisor is not None:
                procs = [w.proc for w in self.workers if w.proc is not None]
                self.supervisor.stop_many(procs, grace=WORKER_GRACE)
                for w in self.workers:
                    w.proc = None
                if self.postgres is not None:
                    self.postgres.stop()  # SIGINT: SIGTERM would wait for its clients to leave
                self.supervisor.stop_all()
                if self.postgres is not None:
                    self.postgres.cleanup()


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
