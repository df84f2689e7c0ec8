"""Compose mode: the cluster is docker-compose.yml's containers, driven through the docker SDK.

The runner container holds the client and the nemesis. Network faults go through the Toxiproxy
service (the links are the proxies in docker/toxiproxy.json); process faults kill, pause,
unpause and restart containers: a worker container is a worker node (its main process is PID 1,
its pool processes are PID 1's children), a Redis container is a redis-server without
persistence. The ledger is a volume shared by every container. Only containers of this compose
project, found by their compose labels, are ever touched.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from redis.backoff import NoBackoff
from redis.retry import Retry

from chord_chaos.harness.cluster import broker_probe
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.toxiproxy import Link, ToxiproxyClient
from chord_chaos.harness.infra.workers import last_critical
from chord_chaos.harness.worker.app import close_app, make_app
from chord_chaos.models.vocabulary import Backend

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKERS = ("w0", "w1")
READY_TIMEOUT = 60.0
DIRECT_BROKER_URL = "redis://redis-broker:6379/0"


def _docker_client() -> Any:
    try:
        from docker.client import DockerClient

        client = DockerClient.from_env()
        client.ping()
        return client
    except Exception as exc:
        raise HarnessError(f"no docker engine reachable ({type(exc).__name__}: {exc}); compose mode "
                           "runs inside docker-compose.yml's runner with /var/run/docker.sock "
                           "mounted") from exc


def compose_backend() -> Backend:
    """The compose workers' result backend, from their CC_BACKEND_URL."""
    return Backend.DATABASE if os.environ.get("CC_BACKEND_URL", "").startswith("db+") else Backend.REDIS


class ContainerWorker:
    """A worker container: PID 1 is the celery main process."""

    def __init__(self, container: Any, name: str) -> None:
        self.container = container
        self.name = name

    @property
    def hostname(self) -> str:
        return f"{self.name}@{self.name}"

    def alive(self) -> bool:
        self.container.reload()
        return bool(self.container.status == "running")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.container.kill(signal=int(sig))

    def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def pool_pids(self) -> list[int]:
        if not self.alive():
            return []
        code, out = self.container.exec_run(["pgrep", "-P", "1"])
        return [int(p) for p in out.decode().split()] if code == 0 else []

    def kill_child(self, pid: int) -> bool:
        if pid not in self.pool_pids():
            return False
        code, _ = self.container.exec_run(["kill", "-9", str(pid)])
        return bool(code == 0)

    def last_error(self) -> str:
        return last_critical(self.container.logs(tail=500).decode(errors="replace"))


class ContainerRedis:
    """A Redis container without persistence: a restart loses every key."""

    def __init__(self, container: Any, role: str) -> None:
        self.container = container
        self.role = role

    def alive(self) -> bool:
        self.container.reload()
        return bool(self.container.status == "running")

    def pause(self) -> None:
        self.container.pause()

    def resume(self) -> None:
        self.container.reload()
        if self.container.status == "paused":
            self.container.unpause()

    def kill(self) -> None:
        self.container.kill()

    def restart(self) -> ContainerRedis:
        self.container.restart(timeout=0)
        return self


class ComposeCluster:
    """The chaos-cluster protocol of ``Cluster``, over this compose project's containers."""

    def __init__(self, delivery: str, project: str | None = None, client: Any = None,
                 toxiproxy: str | None = None) -> None:
        self.delivery: str | None = delivery
        self.project = project or os.environ.get("CC_COMPOSE_PROJECT", "chord-chaos")
        self.backend = compose_backend()
        self.client = client
        host, _, port = (toxiproxy or os.environ.get("CC_TOXIPROXY", "toxiproxy:8474")).partition(":")
        self.proxies: ToxiproxyClient | None = ToxiproxyClient(host, int(port or 8474))
        self.links: dict[str, Link] = {}
        self.workers: dict[str, ContainerWorker] = {}
        self.servers: dict[str, ContainerRedis] = {}
        self.app: Celery = Celery("chord_chaos-compose-not-started", set_as_current=False)

    @property
    def ledger_dir(self) -> Path:
        return Path(os.environ.get("CC_LEDGER_DIR", "/ledger"))

    def _container(self, service: str) -> Any:
        found = self.client.containers.list(all=True, filters={"label": [
            f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={service}"]})
        if not found:
            raise HarnessError(f"no container of service {service!r} in compose project "
                               f"{self.project!r}; start it with 'docker compose up'")
        return found[0]

    def start(self) -> ComposeCluster:
        self.client = self.client or _docker_client()
        self.workers = {w: ContainerWorker(self._container(f"worker-{w}"), w) for w in WORKERS}
        self.servers = {"broker": ContainerRedis(self._container("redis-broker"), "broker")}
        if self.backend == "redis":
            self.servers["backend"] = ContainerRedis(self._container("redis-backend"), "backend")
        assert self.proxies is not None
        for name, proxy in self.proxies.proxies().items():
            listen = int(str(proxy["listen"]).rpartition(":")[2])
            self.links[name] = Link(name, listen, int(str(proxy["upstream"]).rpartition(":")[2]))
        self.app = make_app(delivery=self.delivery)  # URLs from CC_BROKER_URL / CC_BACKEND_URL
        self._wait_ready(list(self.workers.values()))
        return self

    def _wait_ready(self, workers: list[ContainerWorker]) -> None:
        pending = {w.hostname for w in workers}
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            if time.monotonic() > deadline:
                raise HarnessError(f"worker(s) {', '.join(sorted(pending))} did not answer a ping "
                                   f"within {READY_TIMEOUT:g} s; see 'docker compose logs'")
            for reply in self.app.control.ping(destination=sorted(pending), timeout=0.5) or []:
                pending -= set(reply)

    def worker(self, name: str) -> ContainerWorker:
        if name not in self.workers:
            raise HarnessError(f"no worker {name!r} in compose mode; it has {', '.join(self.workers)}")
        return self.workers[name]

    def redis(self, role: str) -> ContainerRedis:
        if role not in self.servers:
            raise HarnessError(f"no redis container {role!r} in compose mode (backend {self.backend})")
        return self.servers[role]

    def server(self, kind: str, role: str) -> ContainerRedis:
        if not kind.endswith("_redis"):
            raise HarnessError(f"{kind} needs a local cluster (--broker rabbitmq or --backend "
                               "postgres); compose mode runs Redis only")
        return self.redis(role)

    def respawn_worker(self, name: str) -> None:
        self.worker(name).container.restart(timeout=10)

    def await_workers(self, names: list[str]) -> None:
        self._wait_ready([self.worker(n) for n in names])

    def probe_broker(self, task_ids: list[str]) -> dict[str, Any]:
        """As ``Cluster.probe_broker``: the broker container directly, results through the client."""
        return broker_probe.probe(DIRECT_BROKER_URL, self.app, task_ids)

    def health(self) -> list[str]:
        return self.infra_health() + self.worker_exits()

    def infra_health(self) -> list[str]:
        return [f"redis container ({role}) is not running" for role, s in self.servers.items()
                if not s.alive()]

    def worker_exits(self) -> list[str]:
        return [f"worker {w.hostname} exited by itself{w.last_error()}" for w in self.workers.values()
                if not w.alive()]

    def reset(self, full: bool) -> None:
        """As ``Cluster.reset``: heal the network; with ``full``, restart every worker container
        and empty both Redis servers (reached directly, around the proxies)."""
        assert self.proxies is not None
        self.proxies.reset()
        if not full:
            return
        for server in self.servers.values():
            server.resume()
            if not server.alive():
                server.restart()
        for role, host in (("broker", "redis-broker"), ("backend", "redis-backend")):
            if role in self.servers:
                client = redis.Redis(host=host, port=6379, socket_timeout=2, retry=Retry(NoBackoff(), 0))
                client.flushall()
                client.close()
        for w in self.workers.values():
            w.container.restart(timeout=0)
        close_app(self.app)
        self.app = make_app(delivery=self.delivery)
        self._wait_ready(list(self.workers.values()))

    def close(self) -> None:
        """Leave the containers to docker compose; only heal the network and close the client."""
        try:
            if self.proxies is not None:
                self.proxies.reset()
        finally:
            close_app(self.app)
