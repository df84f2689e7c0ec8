"""A real ``redis-server`` (Debian's binary) on a loopback port, with no persistence."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import redis

from chord_chaos.harness.errors import HarnessError
from chord_chaos.harness.ports import HOST, free_port, port_in_use
from chord_chaos.harness.procs import Managed, Supervisor

READY_TIMEOUT = 10.0


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise HarnessError("redis-server is not on PATH: run 'make setup' "
                           "(or 'apt-get install redis-server')")
    return binary


class RedisServer:
    def __init__(self, supervisor: Supervisor, workdir: Path, role: str,
                 port: int | None = None) -> None:
        self.supervisor = supervisor
        self.workdir = workdir
        self.role = role
        self.port = port
        self.proc: Managed | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self) -> RedisServer:
        binary = redis_binary()
        if self.port is None:
            self.port = free_port()
        elif port_in_use(self.port):
            raise HarnessError(f"port {self.port} in use on {HOST}; pick another or stop what "
                               "holds it")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--bind", HOST, "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir),
                "--protected-mode", "yes"]
        self.proc = self.supervisor.spawn(argv, f"redis-{self.role}",
                                          self.workdir / f"redis-{self.role}.log")
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.port is not None
        deadline = time.monotonic() + READY_TIMEOUT
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=0.5,
                             socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if not self.proc.alive():
                    raise HarnessError(f"redis-server ({self.role}) exited at start: "
                                       f"{self.proc.log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.02)
        finally:
            client.close()
        raise HarnessError(f"redis-server ({self.role}) not ready after {READY_TIMEOUT:g} s; "
                           f"see {self.proc.log}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> None:
        if self.proc is not None:
            self.supervisor.stop(self.proc)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.supervisor.stop(self.proc, grace=0.0, sig=signal.SIGKILL)
            self.proc = None

    def restart(self) -> None:
        """Same port, empty data: there is no persistence."""
        self.kill()
        self.start()

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.popen.send_signal(signal.SIGCONT)
