"""A real RabbitMQ node (Debian's ``rabbitmq-server``) on loopback ports, owned like redis-server.

Everything a node needs lives in the run's directory: its node name (fixed, so a restart finds
its Mnesia data again), Mnesia and log directories, an empty plugin list, a config file that
binds AMQP to 127.0.0.1, and the Erlang cookie (``$HOME/.erlang.cookie``, ``HOME`` being that
directory). Erlang's port mapper is ours too: ``epmd`` runs in the foreground under the
supervisor on a port of its own (``ERL_EPMD_PORT``; it listens on 127.0.0.1 and, as epmd always
does, on ::1), so the node never starts a daemonised one that would outlive the harness or meet
another run's. The node runs ``erl`` directly (``RUNNING_UNDER_SYSTEMD``: no shell in between),
so its pid is the VM's; SIGTERM is a graceful stop, SIGKILL a crash. A node is ready when an
AMQP connection opens and a queue declare succeeds, not when its log says so.

A restart keeps the Mnesia directory: durable queues and persistent messages survive it as
they would in production; a kill loses what was not yet written.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chord_chaos.harness.infra import ports
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.owned import OwnedProcess
from chord_chaos.harness.infra.ports import HOST
from chord_chaos.harness.infra.supervisor import Managed, Supervisor

READY_TIMEOUT = 30.0  # a cold node boots in a few seconds; a loaded CI machine takes longer
SERVER_SCRIPTS = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"
COOKIE = "chordchaoscookie"  # the node's own; only this node and its tools read it


def rabbitmq_binary() -> str:
    """The node's start script, not Debian's wrapper (which switches to the rabbitmq user)."""
    found = sorted(glob.glob(SERVER_SCRIPTS))
    if found:
        return found[-1]
    on_path = shutil.which("rabbitmq-server")
    if on_path and "script-wrapper" not in os.path.realpath(on_path):
        return on_path
    raise HarnessError("rabbitmq-server not found: install it with 'apt-get install "
                       "rabbitmq-server' (or run 'make setup')")


def epmd_binary() -> str:
    binary = shutil.which("epmd")
    if binary is None:
        raise HarnessError("epmd (Erlang's port mapper) not found: install it with 'apt-get "
                           "install rabbitmq-server' (or run 'make setup')")
    return binary


@contextlib.contextmanager
def _channel(port: int, timeout: float) -> Iterator[Any]:
    """A channel on a fresh AMQP connection as guest, every step bounded by ``timeout``."""
    import amqp

    conn = amqp.Connection(f"{HOST}:{port}", userid="guest", password="guest",
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
    try:
        conn.connect()
        yield conn.channel()
    finally:
        with contextlib.suppress(Exception):  # a half-open connection has nothing to release
            conn.collect()


def amqp_answers(port: int, timeout: float = 1.0) -> bool:
    """One AMQP connection and a queue declare (what a worker does first), bounded in time."""
    try:
        with _channel(port, timeout) as channel:
            channel.queue_declare("cc.ready", auto_delete=True, exclusive=True)
        return True
    except Exception:  # any refusal or timeout means not yet
        return False


def purge(port: int, queues: tuple[str, ...] = ("celery",), timeout: float = 5.0) -> None:
    """Empty the task queues (between chaos runs, with no worker connected)."""
    import amqp

    try:
        with _channel(port, timeout) as channel:
            for queue in queues:
                try:
                    channel.queue_purge(queue)
                except amqp.exceptions.NotFound:
                    channel = channel.connection.channel()  # a missing queue closed it: nothing there
    except Exception as exc:
        raise HarnessError(f"purging RabbitMQ on {HOST}:{port} failed: {exc}") from exc


class RabbitMQServer(OwnedProcess):
    """One RabbitMQ node with its own epmd: start, stop, kill, restart on the same ports."""

    RACE_MARKERS = (b"address already in use", b"eaddrinuse")  # Erlang names the errno

    def __init__(self, supervisor: Supervisor, workdir: Path, role: str = "broker",
                 port: int | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        super().__init__(supervisor, workdir.resolve(), port, ready_timeout)  # the node's cwd is home
        self.role = role
        self.epmd: Managed | None = None
        self.epmd_port: int | None = None
        self.dist_port: int | None = None

    @property
    def home(self) -> Path:
        return self.workdir / f"rabbitmq-{self.role}"

    @property
    def log(self) -> Path:
        return self.workdir / f"rabbitmq-{self.role}.log"

    @property
    def label(self) -> str:
        return f"rabbitmq-server ({self.role})"

    def url(self) -> str:
        if self.port is None:
            raise HarnessError(f"{self.label} has no port yet; start it first")
        return self.url_at(self.port)

    def url_at(self, port: int) -> str:
        """Its URL through ``port`` (a proxy in front of it)."""
        return f"amqp://guest:guest@{HOST}:{port}//"

    def _binary(self) -> str:
        return rabbitmq_binary()

    def _start_epmd(self) -> None:
        if self.epmd is not None and self.epmd.alive():
            return
        binary = epmd_binary()
        for _attempt in range(3):
            port = ports.free_port()
            proc = self.supervisor.spawn([binary, "-port", str(port), "-address", HOST],
                                         f"epmd-{self.role}", self.workdir / f"epmd-{self.role}.log")
            if _wait_listening(proc, port):
                self.epmd, self.epmd_port = proc, port
                return
            self.supervisor.stop(proc, grace=0.0, sig=signal.SIGKILL)
        raise HarnessError(f"epmd did not start for {self.label}; see {self.workdir}/epmd-{self.role}.log")

    def _spawn(self, binary: str, port: int) -> Managed:
        self._start_epmd()
        if self.dist_port is None or not self._fixed_port:
            self.dist_port = ports.free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(COOKIE)
            cookie.chmod(0o400)
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = {HOST}:{port}\nlog.console = true\nlog.file = false\n"
            "log.console.level = warning\n")
        (self.home / "enabled_plugins").write_text("[].\n")
        env = {
            "HOME": str(self.home), "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST, "RUNNING_UNDER_SYSTEMD": "1",
            "RABBITMQ_NODENAME": f"cc-{self.role}@localhost",  # fixed: its Mnesia dir is per name
            "RABBITMQ_NODE_IP_ADDRESS": HOST, "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.home / "pid"),
            "RABBITMQ_CONF_ENV_FILE": str(self.home / "rabbitmq-env.conf"),  # none: not the system's
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.home / "advanced.config"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        return self.supervisor.spawn([binary], f"rabbitmq-{self.role}", self.log, env=env,
                                     cwd=self.home)

    def _answers(self, proc: Managed, port: int) -> bool:
        return amqp_answers(port, timeout=0.5)

    def stop(self, grace: float = 10.0) -> None:
        """A graceful stop (SIGTERM: the VM shuts the node down), then its epmd."""
        super().stop(grace)
        if self.epmd is not None:
            self.supervisor.stop(self.epmd, grace=1.0)
            self.epmd = None


def _wait_listening(proc: Managed, port: int, timeout: float = 5.0) -> bool:
    """Whether ``proc`` listens on ``port`` within ``timeout`` s (epmd answers no protocol we speak)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not proc.exited():
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((HOST, port)) == 0:
                return True
        time.sleep(0.02)
    return False
