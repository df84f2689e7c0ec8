"""The process registry: ``<state_dir>/pids.json`` lists every process the harness spawned,
so that the next start (or ``make clean``) can stop what a killed harness left behind.

Each record holds the pid, group, psutil ``create_time``, argv, role and owner. ``reap_stale``
kills only a process whose owner is dead and whose pid *and* create_time both still match a
record: a recycled pid is never killed, nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from chord_chaos.harness.infra.errors import HarnessError

STATE_DIR_NAME = ".cc-runs"
STATE_DIR_VAR = "CC_STATE_DIR"  # overrides the default (each pytest-xdist worker has its own)
REGISTRY_NAME = "pids.json"
KILL_WAIT = 5.0  # how long a SIGKILLed process may take to disappear
LOCK_TIMEOUT = 10.0
POLL = 0.01
_CREATE_TIME_TOLERANCE = 0.005  # psutil create_time has clock-tick (10 ms) resolution


def default_state_dir(start: Path | None = None) -> Path:
    """``$CC_STATE_DIR`` if set, else ``<repo>/.cc-runs`` for the git checkout holding ``start``
    (default: cwd), else ``<cwd>/.cc-runs``.

    One place per checkout, so the next run finds (and reaps) what a killed run left.
    """
    if start is None and os.environ.get(STATE_DIR_VAR):
        return Path(os.environ[STATE_DIR_VAR]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder / STATE_DIR_NAME
    return here / STATE_DIR_NAME


def process_create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _same_process(pid: int, create_time: float) -> bool:
    """True only if ``pid`` is alive and is the very process that was recorded."""
    now = process_create_time(pid)
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


def reap_tree(root: Path) -> tuple[list[ProcRecord], list[ProcRecord]]:
    """``reap_stale`` on every registry below ``root``: (what was killed, what a live harness
    still owns and was left alone)."""
    killed: list[ProcRecord] = []
    live: list[ProcRecord] = []
    for path in sorted(root.rglob(REGISTRY_NAME)):
        killed += reap_stale(path.parent)
        live += Registry(path.parent).records()
    return killed, live


def main(argv: list[str] | None = None) -> int:
    """``python -m chord_chaos.harness.infra.registry reap DIR`` (``make clean``): exit 1, with
    one line, while a live harness still owns processes below DIR."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "reap":
        print("usage: python -m chord_chaos.harness.infra.registry reap STATE_DIR", file=sys.stderr)
        return 2
    killed, live = reap_tree(Path(args[1]))
    for r in killed:
        print(f"stopped {r.role} (pid {r.pid}), left behind by a harness that died")
    if live:
        owners = sorted({r.owner_pid for r in live})
        print(f"{len(live)} process(es) below {args[1]} belong to a running harness (pid "
              f"{', '.join(map(str, owners))}); stop it first (Ctrl-C), then run make clean again",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
