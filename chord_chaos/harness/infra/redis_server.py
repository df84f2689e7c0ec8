"""A real ``redis-server`` (Debian's binary) on a loopback port, without persistence.

No RDB, no AOF: a restart or a kill loses every key, which is exactly the broker and
result-backend fault the harness wants to model. Readiness is a real PING, not a log line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.owned import OwnedProcess
from chord_chaos.harness.infra.ports import HOST
from chord_chaos.harness.infra.supervisor import Managed, Supervisor

READY_TIMEOUT = 10.0


def redis_binary() -> str:
    """The redis-server on PATH, or a one-line error that says what to install."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise HarnessError("redis-server not found on PATH: install it with "
                           "'apt-get install redis-server' (or run 'make setup')")
    return binary


def ping(port: int, timeout: float = 0.5) -> bool:
    """One PING without redis-py's retries (they would turn a fast failure into seconds)."""
    client = redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                         socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def flush(port: int, timeout: float = 2.0) -> None:
    """FLUSHALL: every key of every database gone (between chaos runs)."""
    client = redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                         socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    try:
        client.flushall()
    except (redis.RedisError, OSError) as exc:
        raise HarnessError(f"FLUSHALL on {HOST}:{port} failed: {exc}") from exc
    finally:
        client.close()


class RedisServer(OwnedProcess):
    """One redis-server process: start, stop, kill, restart on the same port, pause, resume."""

    def __init__(self, supervisor: Supervisor, workdir: Path, role: str = "redis",
                 port: int | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        super().__init__(supervisor, workdir, port, ready_timeout)
        self.role = role

    @property
    def log(self) -> Path:
        return self.workdir / f"redis-{self.role}.log"

    @property
    def data_dir(self) -> Path:
        return self.workdir / f"redis-{self.role}"

    def url(self, db: int = 0) -> str:
        if self.port is None:
            raise HarnessError(f"redis-server ({self.role}) has no port yet; start it first")
        return self.url_at(self.port, db)

    def url_at(self, port: int, db: int = 0) -> str:
        """Its URL through ``port`` (a proxy in front of it)."""
        return f"redis://{HOST}:{port}/{db}"

    def _binary(self) -> str:
        return redis_binary()

    def _spawn(self, binary: str, port: int) -> Managed:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(self.data_dir), "--protected-mode", "yes"]
        return self.supervisor.spawn(argv, f"redis-{self.role}", self.log)

    def _answers(self, proc: Managed, port: int) -> bool:
        return ping(port, timeout=0.25)

    @property
    def label(self) -> str:
        return f"redis-server ({self.role})"

    def restart(self) -> RedisServer:
        """Kill and start again on the same port: every key is gone (no persistence)."""
        return super().restart()
