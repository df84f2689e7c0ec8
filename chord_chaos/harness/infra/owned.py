"""What a harness-owned server (redis-server, RabbitMQ, PostgreSQL, toxiproxy-server) shares: a
start on a free loopback port that retries a lost port race, and a stop, kill, restart or pause
through its supervisor."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Self

from chord_chaos.harness.infra import ports
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.registry import POLL
from chord_chaos.harness.infra.supervisor import Managed, Supervisor

START_ATTEMPTS = 3  # a port from free_port can be taken before the server binds it


class OwnedProcess:
    """What a harness-owned server shares: a start on a free loopback port that retries a lost
    port race, its Managed process, whether it runs, its pid,
    and a stop or kill through the supervisor that started it. Subclasses say how to spawn it,
    how to tell it is ready and how its log shows a lost port race."""

    def __init__(self, supervisor: Supervisor, workdir: Path, port: int | None,
                 ready_timeout: float) -> None:
        self.supervisor = supervisor
        self.workdir = workdir
        self.port = port  # a given port is kept across restarts; else a free one per start
        self.ready_timeout = ready_timeout
        self.proc: Managed | None = None
        self._fixed_port = port is not None

    @property
    def label(self) -> str:
        """How errors name it, e.g. ``redis-server (broker)``."""
        raise NotImplementedError

    @property
    def log(self) -> Path:
        raise NotImplementedError

    def _binary(self) -> str:
        raise NotImplementedError

    def _spawn(self, binary: str, port: int) -> Managed:
        raise NotImplementedError

    def _answers(self, proc: Managed, port: int) -> bool:
        """Whether it serves on ``port`` (one bounded request, not a log line)."""
        raise NotImplementedError

    RACE_MARKERS: tuple[bytes, ...] = (b"address already in use",)  # lower case, as logged

    def _lost_race(self, proc: Managed, offset: int) -> bool:
        """Whether its log, from ``offset`` on (this attempt), says the port was taken (each
        server logs the kernel's "address already in use", or one of its ``RACE_MARKERS``)."""
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                text = log.read().lower()
        except OSError:
            return False
        return any(marker in text for marker in self.RACE_MARKERS)

    def _wait_ready(self, proc: Managed, port: int, offset: int) -> bool:
        """True once it answers; False if it exited or lost the port; a HarnessError (and the
        process killed) after ``ready_timeout``."""
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if proc.exited() or self._lost_race(proc, offset):
                return False
            if self._answers(proc, port):
                return True
            time.sleep(POLL)
        self.supervisor.stop(proc, grace=0.0, sig=signal.SIGKILL)
        raise HarnessError(f"{self.label} not ready on {ports.HOST}:{port} after "
                           f"{self.ready_timeout:g} s; see {self.log}")

    def start(self) -> Self:
        """Start and wait until ready; a fixed port keeps the port across restarts."""
        binary = self._binary()
        tail = ""
        for _attempt in range(START_ATTEMPTS):
            if not self._fixed_port:
                self.port = ports.free_port()
            assert self.port is not None
            if ports.port_in_use(self.port):
                if self._fixed_port:
                    raise self._port_in_use()
                continue
            offset = self.log.stat().st_size if self.log.exists() else 0  # earlier attempts' lines
            proc = self._spawn(binary, self.port)
            if self._wait_ready(proc, self.port, offset):
                self.proc = proc
                return self
            tail = proc.log_tail()
            lost_race = self._lost_race(proc, offset)
            self.supervisor.stop(proc, grace=0.0, sig=signal.SIGKILL)
            if lost_race and self._fixed_port:
                raise self._port_in_use()
            if not lost_race:
                break
        raise HarnessError(f"{self.label} did not start on {ports.HOST}:{self.port}; see {self.log}: {tail}")

    def _port_in_use(self) -> HarnessError:
        return HarnessError(f"port {self.port} in use on {ports.HOST}; pick another or stop what holds it")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise HarnessError(f"{self.label} is not running; start it first")
        return self.proc.pid

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (it has nothing to save), SIGKILL after ``grace``."""
        if self.proc is not None:
            self.supervisor.stop(self.proc, grace=grace)
            self.proc = None

    def restart(self) -> Self:
        """Kill and start again on the same port: clients can reconnect to it."""
        self.kill()
        self._fixed_port = self.port is not None
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open and accept, nothing answers (a hung server)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, and wait until it is gone (its port is free, its connections dropped)."""
        if self.proc is not None:
            self.supervisor.stop(self.proc, grace=0.0, sig=signal.SIGKILL)
            self.proc = None
