"""What runners need from a cluster, as Protocols: a local cluster of processes (``local.py``)
and docker-compose's containers (``compose.py``) both provide them.

``RunnableCluster`` is what the batch runner needs; ``FaultableCluster`` (its ``Worker`` and
``Server``) what the nemesis acts on; ``ChaosCluster`` what the chaos runner needs on top.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Protocol

from celery import Celery

from chord_chaos.harness.infra.toxiproxy import Link, ToxiproxyClient
from chord_chaos.models.vocabulary import Backend


class RunnableCluster(Protocol):
    """What the runner needs from a cluster."""

    app: Celery
    backend: Backend

    @property
    def ledger_dir(self) -> Path: ...

    def health(self) -> list[str]:
        """Problems with the cluster's own processes (a dead worker), empty when healthy."""
        ...


class Worker(Protocol):
    """A worker node as the nemesis sees it: a process here, a container in compose mode."""

    name: str

    @property
    def hostname(self) -> str: ...

    def alive(self) -> bool: ...

    def kill(self, sig: int = signal.SIGKILL) -> None: ...

    def wait_exit(self, timeout: float) -> bool: ...

    def pool_pids(self) -> list[int]: ...

    def kill_child(self, pid: int) -> bool: ...

    def last_error(self) -> str: ...


class Server(Protocol):
    """A redis-server as the nemesis sees it."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self) -> object: ...


class FaultableCluster(Protocol):
    links: dict[str, Link]
    proxies: ToxiproxyClient | None

    def worker(self, name: str) -> Worker: ...

    def server(self, kind: str, role: str) -> Server:
        """The server a server fault of ``kind`` (``kill_redis``, ``restart_rabbitmq``, ...) hits
        in ``role`` (broker or backend); a HarnessError when the cluster has none."""
        ...

    def respawn_worker(self, name: str) -> None:
        """Stop the node if it still runs and start it again, without waiting for it."""
        ...

    def await_workers(self, names: list[str]) -> None:
        """Bounded wait until these nodes answer a ping; a HarnessError if one does not."""
        ...


class ChaosCluster(RunnableCluster, FaultableCluster, Protocol):
    delivery: str | None

    def reset(self, full: bool) -> None:
        """Heal the network; with ``full``, restart every worker and empty both Redis servers."""
        ...

    def infra_health(self) -> list[str]:
        """Dead servers or proxies: the harness's own failure."""
        ...

    def worker_exits(self) -> list[str]:
        """Workers that exited by themselves: Celery's failure."""
        ...

    def probe_broker(self, task_ids: list[str]) -> dict[str, Any]:
        """Messages in the broker, and the stored states of ``task_ids`` (``broker_probe.py``)."""
        ...

    def close(self) -> None:
        """Stop (or, in compose mode, let go of) everything it started."""
        ...
