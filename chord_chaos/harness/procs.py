"""Process supervision: every process the harness starts is recorded, and stopped on any exit.

Three layers, so that no redis-server or celery worker outlives the harness:

1. Each child runs in its own process group (``start_new_session``), so a stop reaches a
   worker's pool children too, and gets ``PR_SET_PDEATHSIG(SIGKILL)``, so the kernel kills it
   when the harness dies, even by SIGKILL. (The "parent" the kernel watches is the *thread*
   that spawned the child: spawn from the main thread or a thread that lives as long.)
2. ``atexit`` and SIGINT/SIGTERM handlers stop every live supervisor's children, gracefully
   (SIGTERM to the group, SIGKILL after a grace period), then exit the conventional way.
3. A registry file (``<state_dir>/pids.json``) lists every spawned process with its pid,
   group, psutil ``create_time``, argv, role and owner. ``reap_stale`` on the next start kills
   what a dead owner left, and only a process whose pid *and* create_time both still match a
   record: a recycled pid is never killed, nothing is ever killed by name.

A group is signalled only while its leader is our unreaped child (a zombie still holds the
pid), so a group id can never have been recycled by the time we signal it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from chord_chaos.harness.errors import HarnessError

STATE_DIR_NAME = ".cc-runs"
REGISTRY_NAME = "pids.json"
OWNER_VAR = "CC_OWNER_PID"
KILL_WAIT = 5.0  # how long a SIGKILLed process may take to disappear
LOCK_TIMEOUT = 10.0
POLL = 0.01
PR_SET_PDEATHSIG = 1
_CREATE_TIME_TOLERANCE = 0.005  # psutil create_time has clock-tick (10 ms) resolution

_LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def default_state_dir(start: Path | None = None) -> Path:
    """``<repo>/.cc-runs`` for the git checkout holding ``start`` (default: cwd), else ``<cwd>/.cc-runs``.

    One place per checkout, so the next run finds (and reaps) what a killed run left.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder / STATE_DIR_NAME
    return here / STATE_DIR_NAME


def _die_with(parent: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: ask for SIGKILL when the harness dies."""

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the harness died before prctl took effect
            os._exit(1)

    return setup


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _same_process(pid: int, create_time: float) -> bool:
    """True only if ``pid`` is alive and is the very process that was recorded."""
    now = _create_time(pid)
    return now is not None and abs(now - create_time) < _CREATE_TIME_TOLERANCE


@dataclass(frozen=True)
class ProcRecord:
    """One spawned process as the registry file stores it."""

    pid: int
    pgid: int
    create_time: float
    argv: tuple[str, ...]
    role: str
    log: str
    owner_pid: int
    owner_create_time: float

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "argv": list(self.argv)}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> ProcRecord:
        return ProcRecord(
            pid=int(obj["pid"]), pgid=int(obj["pgid"]), create_time=float(obj["create_time"]),
            argv=tuple(str(a) for a in obj.get("argv", ())), role=str(obj.get("role", "")),
            log=str(obj.get("log", "")), owner_pid=int(obj["owner_pid"]),
            owner_create_time=float(obj["owner_create_time"]),
        )

    def owner_alive(self) -> bool:
        return _same_process(self.owner_pid, self.owner_create_time)


# One flock per registry path per process, re-entrant: a signal handler that stops processes
# can run while the main thread is inside a registry update, and must not deadlock on it.
_REGISTRY_LOCK = threading.RLock()
_flocks: dict[Path, tuple[int, int]] = {}


class Registry:
    """``<state_dir>/pids.json``, shared by every harness using that state dir (xdist, CLI).

    Updates are read-modify-write under an ``flock`` and land by atomic rename, so concurrent
    harnesses never lose each other's records and a reader never sees half a file.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / REGISTRY_NAME

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry (re-entrant within this process) for a read-modify-write."""
        with _REGISTRY_LOCK:
            key = self.path.resolve()
            fd, depth = _flocks.get(key, (-1, 0))
            if depth == 0:
                fd = self._acquire()
            _flocks[key] = (fd, depth + 1)
            try:
                yield
            finally:
                fd, depth = _flocks.pop(key)
                if depth > 1:
                    _flocks[key] = (fd, depth - 1)
                else:
                    os.close(fd)  # releases the flock

    def _acquire(self) -> int:
        """The flock, waited for at most LOCK_TIMEOUT (a harness stopped while holding it)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = self.state_dir / f"{REGISTRY_NAME}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise HarnessError(f"{lock} stayed locked for {LOCK_TIMEOUT:g} s; is another "
                                       "harness stopped (SIGSTOP)? resume or end it") from None
                time.sleep(POLL)

    def records(self) -> list[ProcRecord]:
        with self.locked():
            return self.read()

    def update(self, change: Callable[[list[ProcRecord]], list[ProcRecord]]) -> None:
        with self.locked():
            self.write(change(self.read()))

    def add(self, record: ProcRecord) -> None:
        self.update(lambda recs: [*recs, record])

    def remove(self, record: ProcRecord) -> None:
        self.update(lambda recs: [r for r in recs if r != record])

    def read(self) -> list[ProcRecord]:
        """The records as stored; call under ``locked()`` when a write follows."""
        try:
            data = json.loads(self.path.read_text())
            return [ProcRecord.from_json(obj) for obj in data.get("procs", [])]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []  # a corrupt registry is no reason to refuse to start; it is rewritten

    def write(self, records: list[ProcRecord]) -> None:
        """Replace the file atomically; call under ``locked()``."""
        tmp = self.path.with_name(f"{REGISTRY_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"procs": [r.to_json() for r in records]}, indent=1))
        tmp.replace(self.path)


@dataclass(eq=False)
class Managed:
    """A spawned process: its Popen, its registry record and its log file."""

    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    record: ProcRecord
    _lost: bool = False  # reaped behind our back: its group id is no longer pinned

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def pgid(self) -> int:
        return self.record.pgid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal), else None."""
        return self.popen.returncode

    def exited(self) -> bool:
        """Whether the process has exited, without reaping it (its zombie keeps the pgid)."""
        if self.popen.returncode is not None or self._lost:
            return True
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            self._lost = True
            return True

    def alive(self) -> bool:
        return not self.exited()

    def exit_status(self) -> int | None:
        """Like ``returncode`` (negative: killed by that signal) but without reaping."""
        if self.popen.returncode is not None or self._lost:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def wait_exit(self, timeout: float) -> bool:
        """Poll (bounded) until the process exits; True if it did. Does not reap."""
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True

    def send_signal(self, sig: int) -> None:
        """Signal the main process only, and only while its pid cannot have been recycled."""
        if self.popen.returncode is None and not self._lost:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def signal_group(self, sig: int) -> None:
        """Signal the whole process group, while the unreaped leader pins the group id."""
        if self.popen.returncode is None and not self._lost:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    def reap(self, timeout: float = KILL_WAIT) -> int | None:
        if self._lost:
            return None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the log on one line, for one-line error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


class Supervisor:
    """Spawns, records and stops the harness's processes; reaps a dead run's leftovers on start."""

    def __init__(self, state_dir: Path | None = None, *, reap: bool = True,
                 handle_signals: bool = True) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(self.state_dir)
        self.procs: list[Managed] = []
        self._lock = threading.RLock()
        self._owner = os.getpid()
        if reap:
            reap_stale(self.state_dir)
        _install_exit_hooks(handle_signals)

    def spawn(self, argv: Sequence[str], role: str, log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Managed:
        """Start ``argv`` in a new session, output appended to ``log``, and record it."""
        owner = os.getpid()
        full_env = {**os.environ, **(env or {}), OWNER_VAR: str(owner)}
        log.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            with log.open("ab") as out:
                popen = subprocess.Popen(
                    list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=full_env, cwd=cwd, start_new_session=True, preexec_fn=_die_with(owner),
                )
            record = ProcRecord(
                pid=popen.pid, pgid=popen.pid, create_time=_create_time(popen.pid) or 0.0,
                argv=tuple(argv), role=role, log=str(log), owner_pid=owner,
                owner_create_time=_create_time(owner) or 0.0,
            )
            managed = Managed(role, popen, log, record)
            self.procs.append(managed)
            _LIVE.add(self)
            self.registry.add(record)
        return managed

    def stop(self, managed: Managed, grace: float = 5.0, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` to the group, SIGKILL to the group after ``grace`` s; returns the exit status."""
        self._signal(managed, sig)
        managed.wait_exit(grace)
        return self._finish(managed)

    def stop_all(self, grace: float = 3.0) -> None:
        """Stop every process at once: SIGTERM to all groups, one shared grace, then SIGKILL."""
        with self._lock:
            procs = list(reversed(self.procs))
        self.stop_many(procs, grace)

    def stop_many(self, procs: Sequence[Managed], grace: float = 3.0) -> None:
        """Stop these together: their graces overlap instead of adding up."""
        if os.getpid() != self._owner:
            return  # a forked copy of the harness (its atexit) must not stop the parent's children
        for managed in procs:
            self._signal(managed, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for managed in procs:
            managed.wait_exit(max(0.0, deadline - time.monotonic()))
        for managed in procs:
            self._finish(managed)

    def _signal(self, managed: Managed, sig: int) -> None:
        managed.signal_group(sig)
        if sig != signal.SIGKILL:
            managed.signal_group(signal.SIGCONT)  # a paused (SIGSTOPped) process must see it

    def _finish(self, managed: Managed) -> int | None:
        """SIGKILL what is left of the group (leader pinned as a zombie), reap, unrecord."""
        managed.signal_group(signal.SIGKILL)
        if not managed.wait_exit(KILL_WAIT):
            return None  # unkillable for now (D state): keep the record for reap_stale
        code = managed.reap()
        with self._lock:
            if managed in self.procs:
                self.procs.remove(managed)
            if not self.procs:
                _LIVE.discard(self)
            with contextlib.suppress(HarnessError):  # a stale record is dropped by the next reap
                self.registry.remove(managed.record)
        return code


def reap_stale(state_dir: Path) -> list[ProcRecord]:
    """Kill (SIGKILL, whole group) what dead owners left in ``state_dir``; returns what was killed.

    A record is acted on only if its owner is dead (pid gone or create_time changed) and its
    own pid is alive with the recorded create_time; records of dead owners are then dropped.
    Records of live owners (a concurrent harness) are left alone.
    """
    registry = Registry(state_dir)
    killed: list[ProcRecord] = []
    with registry.locked():
        records = registry.read()
        stale = [r for r in records if not r.owner_alive()]
        for record in stale:
            if _same_process(record.pid, record.create_time) and _pgid(record.pid) == record.pgid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(record.pgid, signal.SIGKILL)  # the live leader pins the group id
                killed.append(record)
        if stale:
            registry.write([r for r in records if r not in stale])
    _wait_gone(killed, KILL_WAIT)
    return killed


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _wait_gone(records: list[ProcRecord], timeout: float) -> None:
    """Bounded wait until killed processes (reparented, reaped by init) are gone or zombies."""
    deadline = time.monotonic() + timeout
    pending = list(records)
    while pending and time.monotonic() < deadline:
        pending = [r for r in pending if _running(r)]
        if pending:
            time.sleep(POLL)


def _running(record: ProcRecord) -> bool:
    try:
        proc = psutil.Process(record.pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE
                    and abs(proc.create_time() - record.create_time) < _CREATE_TIME_TOLERANCE)
    except psutil.Error:
        return False


# Every supervisor with live children, for atexit and the signal handlers.
_LIVE: set[Supervisor] = set()
_atexit_installed = False
_signals_installed = False
_previous: dict[int, Any] = {}
_in_handler = False
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_everything() -> None:
    """Stop the children of every supervisor in this process (atexit and signal handlers)."""
    for supervisor in list(_LIVE):
        supervisor.stop_all()


def _install_exit_hooks(handle_signals: bool) -> None:
    global _atexit_installed, _signals_installed
    if not _atexit_installed:
        _atexit_installed = True
        atexit.register(stop_everything)
    if _signals_installed or not handle_signals:
        return
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal only works there; atexit and PDEATHSIG still cover this process
    _signals_installed = True
    for signum in HANDLED_SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_IGN, None):
            continue  # an ignored signal stays ignored (e.g. SIGINT under nohup)
        _previous[signum] = current
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Stop every child, then do what the signal would have done: KeyboardInterrupt for SIGINT,
    exit status 128+N otherwise (raised as SystemExit, so ``finally`` blocks still run)."""
    global _in_handler
    if not _in_handler:  # a second Ctrl-C during cleanup skips straight to the exit
        _in_handler = True
        try:
            stop_everything()
        finally:
            _in_handler = False
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # Python's default SIGINT handler raises KeyboardInterrupt
        return
    raise SystemExit(128 + signum)


START_ATTEMPTS = 3  # a port from free_port can be taken before the server binds it


class OwnedProcess:
    """What a harness-owned server (redis-server, toxiproxy-server) shares: a start on a free
    loopback port that retries a lost port race, its Managed process, whether it runs, its pid,
    and a stop or kill through the supervisor that started it. Subclasses say how to spawn it,
    how to tell it is ready and how its log shows a lost port race."""

    supervisor: Supervisor
    proc: Managed | None
    port: int | None
    _fixed_port: bool

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

    def _wait_ready(self, proc: Managed, port: int, offset: int) -> bool:
        """True once ready; False if it exited or lost the port; a HarnessError on timeout."""
        raise NotImplementedError

    def _lost_race(self, proc: Managed, offset: int) -> bool:
        raise NotImplementedError

    def start(self) -> Any:
        """Start and wait until ready; a fixed port keeps the port across restarts."""
        from chord_chaos.harness.ports import HOST, free_port, port_in_use

        binary = self._binary()
        tail = ""
        for _attempt in range(START_ATTEMPTS):
            if not self._fixed_port:
                self.port = free_port()
            assert self.port is not None
            if port_in_use(self.port):
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
        raise HarnessError(f"{self.label} did not start on {HOST}:{self.port}; see {self.log}: {tail}")

    def _port_in_use(self) -> HarnessError:
        from chord_chaos.harness.ports import HOST

        return HarnessError(f"port {self.port} in use on {HOST}; pick another or stop what holds it")

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

    def kill(self) -> None:
        """SIGKILL, and wait until it is gone (its port is free, its connections dropped)."""
        if self.proc is not None:
            self.supervisor.stop(self.proc, grace=0.0, sig=signal.SIGKILL)
            self.proc = None
