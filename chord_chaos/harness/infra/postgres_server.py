"""A real PostgreSQL server (Debian's binaries) on a loopback port, for Celery's database backend.

Built to survive the fault the harness injects, a kill -9 of the server: ``fsync=off`` and
``full_page_writes=off`` risk data only on an OS crash (a commit's WAL is already in the
kernel's page cache, which a killed process does not take along), so every acknowledged commit
is there after a restart. ``synchronous_commit`` stays on: off, a commit is acknowledged while
its WAL is still in the server's shared memory, and a kill -9 loses the last ones (measured: most
of 50 quick inserts), a loss Celery would be blamed for. Readiness is a real ``SELECT 1``.

The postmaster runs in the foreground under the supervisor (``pg_ctl start`` daemonizes out of
its reach), as the ``postgres`` user when the harness is root (PostgreSQL refuses root). Every
process the postmaster forks calls setsid(), so a signal to the postmaster's group reaches the
postmaster alone: ``kill``, ``stop``, ``pause`` and ``resume`` find its children by parentage.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import psutil

from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.owned import OwnedProcess
from chord_chaos.harness.infra.ports import HOST
from chord_chaos.harness.infra.registry import KILL_WAIT, POLL, ProcRecord
from chord_chaos.harness.infra.supervisor import Managed, Supervisor, as_user

READY_TIMEOUT = 15.0  # crash recovery after a kill replays the WAL first
INITDB_TIMEOUT = 60.0
DEBIAN_ROOT = Path("/usr/lib/postgresql")  # <version>/bin, one per installed major version
SERVER_USER = "postgres"  # who runs it when the harness is root; also the database superuser
SETTINGS = ("fsync=off", "full_page_writes=off", "max_connections=200")
TEMP_ROOT = Path(tempfile.gettempdir()) / "chord-chaos-postgres"  # reachable by the server's user


def bin_dir() -> Path:
    """The directory of ``initdb`` and ``postgres``: the initdb on PATH, symlinks resolved, else
    the newest ``/usr/lib/postgresql/*/bin`` (Debian keeps them off PATH)."""
    found = shutil.which("initdb")
    versions = sorted(DEBIAN_ROOT.glob("*/bin"), key=_version, reverse=True)
    for folder in [*([Path(os.path.realpath(found)).parent] if found else []), *versions]:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    raise HarnessError("PostgreSQL not found: install it with 'apt-get install postgresql' "
                       "(or run 'make setup')")


def _version(folder: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,); ``9.6`` -> (9, 6)."""
    return tuple(int(part) for part in folder.parent.name.split(".") if part.isdigit())


def server_user() -> pwd.struct_passwd | None:
    """The ``postgres`` system user when the harness is root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise HarnessError(f"PostgreSQL refuses to run as root and there is no {SERVER_USER!r} user: "
                           "install it with 'apt-get install postgresql' or run as a non-root user"
                           ) from None


def answers(port: int, timeout: float = 2.0) -> bool:
    """One connection and ``SELECT 1`` (libpq waits at least 2 s for a hung server)."""
    import psycopg  # only a PostgreSQL cluster needs it (a --celery environment may lack it)

    try:
        with psycopg.connect(host=HOST, port=port, user=SERVER_USER, dbname="postgres",
                             sslmode="disable", connect_timeout=max(1, round(timeout)),
                             autocommit=True) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except (psycopg.Error, OSError):
        return False


def _check_reachable(folder: Path, user: pwd.struct_passwd) -> None:
    """Every directory above ``folder`` must let ``user`` pass (x), or initdb fails obscurely."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for parent in reversed(folder.resolve().parents):
        info = parent.stat()
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            raise HarnessError(f"user {user.pw_name!r}, which runs PostgreSQL, cannot enter {parent}: "
                               "chmod o+x it or use a work directory it can reach")


def _remove_orphans() -> None:
    """Data directories whose harness (the pid their name starts with) is gone: a killed run's."""
    for home in TEMP_ROOT.glob("*-*-*"):
        owner = home.name.split("-", 1)[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            shutil.rmtree(home, ignore_errors=True)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Bounded wait until each is gone or a zombie (orphans are init's to reap)."""
    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        procs = [p for p in procs if _running(p)]
        if procs:
            time.sleep(POLL)


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


class PostgresServer(OwnedProcess):
    """One PostgreSQL server: start, stop, kill, restart on the same port with its rows kept,
    pause, resume."""

    def __init__(self, supervisor: Supervisor, workdir: Path, role: str = "backend",
                 port: int | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        super().__init__(supervisor, workdir, port, ready_timeout)
        self.role = role
        self._user: pwd.struct_passwd | None = None
        self._paused: list[ProcRecord] = []  # stopped children, in the registry (see pause)
        self._home: Path | None = None

    @property
    def log(self) -> Path:
        return self.workdir / f"postgres-{self.role}.log"

    @property
    def home(self) -> Path:
        """Owned by the server's user; holds ``data``. A temporary directory of its own under
        ``TEMP_ROOT`` (the run's directory may be one the server's user cannot enter, a
        pytest tmp_path say); ``cleanup`` removes it."""
        if self._home is None:
            TEMP_ROOT.mkdir(mode=0o711, exist_ok=True)
            _remove_orphans()
            self._home = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{self.role}-", dir=TEMP_ROOT))
            (self.workdir / f"postgres-{self.role}.dir").write_text(f"{self._home}\n")
        return self._home

    def cleanup(self) -> None:
        """Remove the data directory (once the server is stopped for good)."""
        if self._home is not None and self.proc is None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def label(self) -> str:
        return f"postgresql ({self.role})"

    def url(self) -> str:
        """The SQLAlchemy URL Celery's database backend takes (psycopg 3)."""
        return self.url_at(self._port())

    def url_at(self, port: int) -> str:
        """Its URL through ``port`` (a proxy in front of it)."""
        return f"db+postgresql+psycopg://{SERVER_USER}@{HOST}:{port}/postgres"

    def dsn(self) -> str:
        """The libpq URL, for psycopg and psql."""
        return f"postgresql://{SERVER_USER}@{HOST}:{self._port()}/postgres"

    def _port(self) -> int:
        if self.port is None:
            raise HarnessError(f"{self.label} has no port yet; start it first")
        return self.port

    def start(self) -> Self:
        """initdb on the first start only: a restart keeps the data dir and its rows."""
        self._initdb()
        return super().start()

    def _initdb(self) -> None:
        binaries = bin_dir()
        self._user = server_user()
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # an initdb cut short: initdb refuses a non-empty dir
        if self._user is not None:
            _check_reachable(self.home, self._user)
            os.chown(self.home, self._user.pw_uid, self._user.pw_gid)
        argv = [str(binaries / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", SERVER_USER,
                "--no-sync", "-E", "UTF8", "--locale=C"]
        with self.log.open("ab") as out:
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=self.home, timeout=INITDB_TIMEOUT, check=False,
                                      **as_user(self._user_name()))
            except subprocess.TimeoutExpired:
                raise HarnessError(f"initdb for {self.label} took over {INITDB_TIMEOUT:g} s; "
                                   f"see {self.log}") from None
        if done.returncode != 0:
            raise HarnessError(f"initdb for {self.label} failed (exit {done.returncode}); see {self.log}")

    def _user_name(self) -> str | None:
        return None if self._user is None else self._user.pw_name

    def _binary(self) -> str:
        return str(bin_dir() / "postgres")

    def _spawn(self, binary: str, port: int) -> Managed:
        argv = [binary, "-D", str(self.data_dir), "-p", str(port), "-c", f"listen_addresses={HOST}",
                "-c", "unix_socket_directories="]
        for setting in SETTINGS:
            argv += ["-c", setting]
        return self.supervisor.spawn(argv, f"postgres-{self.role}", self.log, cwd=self.home,
                                     user=self._user_name())

    def _answers(self, proc: Managed, port: int) -> bool:
        return answers(port, timeout=1.0)

    def _children(self) -> list[psutil.Process]:
        """What the postmaster forked (while it is our unreaped child, its pid is its own)."""
        if self.proc is None or self.proc.exited():
            return []
        try:
            return list(psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.Error:
            return []

    def restart(self) -> PostgresServer:
        """Kill and start again on the same port: crash recovery replays the WAL, clients can
        reconnect, every committed row is still there."""
        return super().restart()

    def kill(self) -> None:
        """SIGKILL the postmaster and every process it forked, and wait until they are gone:
        a new postmaster refuses a data dir whose shared memory an old backend still holds."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGSTOP)  # no new backend between the look and the kill
        children = self._children()
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()  # psutil checks the pid was not recycled
        super().kill()
        _wait_gone(children, KILL_WAIT)
        self._forget_paused()

    def stop(self, grace: float = 5.0) -> None:
        """SIGINT, a fast shutdown: it ends its backends, writes a checkpoint and exits 0,
        without waiting for clients to disconnect as SIGTERM would; ``kill`` after ``grace``."""
        if self.proc is None:
            return
        self.resume()  # a stopped backend would hold the shutdown up
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait_exit(grace)
        self.kill()

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend: connections open, nothing answers (a hung
        server; stopping the postmaster alone would leave open connections served). A stopped
        child would outlive a harness killed now (it notices the postmaster's death only when
        it runs), so each is in the registry until ``resume``: the next start reaps it."""
        if self.proc is None or self._paused:
            return
        self.proc.send_signal(signal.SIGSTOP)  # first: it forks nothing new while we look
        owner, children, records = self.proc.record, self._children(), []
        for child in children:
            with contextlib.suppress(psutil.Error, OSError):
                records.append(ProcRecord(
                    pid=child.pid, pgid=os.getpgid(child.pid), create_time=child.create_time(),
                    argv=(" ".join(child.cmdline()).strip(),), role=f"{owner.role} child",
                    log=owner.log, owner_pid=owner.owner_pid, owner_create_time=owner.owner_create_time))
        self.supervisor.registry.update(lambda recs: [*recs, *records])
        self._paused = records
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.suspend()

    def resume(self) -> None:
        if self.proc is None:
            return
        for child in self._children():
            with contextlib.suppress(psutil.Error):
                child.resume()
        self.proc.send_signal(signal.SIGCONT)
        self._forget_paused()

    def _forget_paused(self) -> None:
        if self._paused:
            paused, self._paused = self._paused, []
            with contextlib.suppress(HarnessError):  # a stale record is dropped by the next reap
                self.supervisor.registry.update(lambda recs: [r for r in recs if r not in paused])
