"""Process supervision: every process the harness starts is recorded, and stopped on any exit.

Three layers, so that no redis-server or celery worker outlives the harness:

1. Each child runs in its own process group (``start_new_session``), so a stop reaches a
   worker's pool children too, and gets ``PR_SET_PDEATHSIG(SIGKILL)``, so the kernel kills it
   when the harness dies, even by SIGKILL. (The "parent" the kernel watches is the *thread*
   that spawned the child: spawn from the main thread or a thread that lives as long.)
2. ``atexit`` and SIGINT/SIGTERM handlers stop every live supervisor's children, gracefully
   (SIGTERM to the group, SIGKILL after a grace period), then exit the conventional way:
   KeyboardInterrupt for SIGINT, SystemExit(128+N) otherwise, so ``finally`` blocks still run
   (a campaign writes its summary). Inside ``signals_interrupt()`` (the CLI) both raise
   ``Interrupted`` at once and the teardown on the way out stops the children; a second
   signal SIGKILLs every child and exits at once.
3. A registry file (``<state_dir>/pids.json``, ``registry.py``) lists every spawned process
   with its pid, group, psutil ``create_time``, argv, role and owner. ``reap_stale`` on the next start kills
   what a dead owner left, and only a process whose pid *and* create_time both still match a
   record: a recycled pid is never killed, nothing is ever killed by name.

A group is signalled only while its leader is our unreaped child (a zombie still holds the
pid), so a group id can never have been recycled by the time we signal it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.registry import (
    KILL_WAIT,
    POLL,
    ProcRecord,
    Registry,
    default_state_dir,
    process_create_time,
    reap_stale,
)

OWNER_VAR = "CC_OWNER_PID"
PR_SET_PDEATHSIG = 1

_LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: ask for SIGKILL when the harness dies."""

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the harness died before prctl took effect
            os._exit(1)

    return setup


def as_user(user: str | None) -> dict[str, Any]:
    """``Popen`` arguments that run a child as ``user`` with that user's groups (root only; a
    server that refuses root). CPython switches ids before ``preexec_fn``, so the PDEATHSIG
    set there survives (a change of ids after it would clear it)."""
    if user is None:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise HarnessError(f"no user {user!r} on this machine; create it or run as another user") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid,
            "extra_groups": os.getgrouplist(user, entry.pw_gid)}


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
              cwd: Path | None = None, user: str | None = None) -> Managed:
        """Start ``argv`` in a new session, output appended to ``log``, and record it; as
        ``user`` if given (see ``as_user``)."""
        owner = os.getpid()
        full_env = {**os.environ, **(env or {}), OWNER_VAR: str(owner)}
        log.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            with log.open("ab") as out:
                popen = subprocess.Popen(
                    list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=full_env, cwd=cwd, start_new_session=True, preexec_fn=_die_with(owner),
                    **as_user(user),
                )
            record = ProcRecord(
                pid=popen.pid, pgid=popen.pid, create_time=process_create_time(popen.pid) or 0.0,
                argv=tuple(argv), role=role, log=str(log), owner_pid=owner,
                owner_create_time=process_create_time(owner) or 0.0,
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


# Every supervisor with live children, for atexit and the signal handlers.
_LIVE: set[Supervisor] = set()
_atexit_installed = False
_signals_installed = False
_previous: dict[int, Any] = {}
_in_handler = False
_term_interrupts = False
_interrupted: int | None = None  # the signal seen inside signals_interrupt(), if any
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_everything() -> None:
    """Stop the children of every supervisor in this process (atexit and signal handlers)."""
    for supervisor in list(_LIVE):
        supervisor.stop_all()


def _install_exit_hooks(handle_signals: bool) -> None:
    global _atexit_installed
    if not _atexit_installed:
        _atexit_installed = True
        atexit.register(stop_everything)
    if handle_signals:
        _install_signal_handlers(override_ignored=False)


def _install_signal_handlers(override_ignored: bool) -> None:
    """Once, from the main thread (signal.signal works only there; atexit and PDEATHSIG still
    cover other threads). An ignored signal stays ignored unless ``override_ignored``."""
    global _signals_installed
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    _signals_installed = True
    for signum in HANDLED_SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_IGN, None) and not override_ignored:
            continue  # e.g. SIGINT of a library user's background job
        _previous[signum] = current
        signal.signal(signum, _on_signal)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM inside ``signals_interrupt()``: a KeyboardInterrupt, which Hypothesis
    and the libraries under it pass through wherever it lands (SystemExit, Hypothesis takes for
    a failing example, shrinks and then calls flaky)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise ``Interrupted`` (the CLI's commands), even
    when the shell started the command with SIGINT ignored (a background job of a script,
    which ``kill -INT`` should still stop); elsewhere they do what they do to a plain Python
    program: KeyboardInterrupt, and SystemExit(143)."""
    global _term_interrupts, _interrupted
    _install_signal_handlers(override_ignored=True)
    before, _term_interrupts, _interrupted = _term_interrupts, True, None
    hook, sys.unraisablehook = sys.unraisablehook, _drop_interrupted(sys.unraisablehook)
    try:
        yield
    finally:
        _term_interrupts, _interrupted = before, None
        sys.unraisablehook = hook


def _drop_interrupted(hook: Callable[[Any], object]) -> Callable[[Any], object]:
    """An ``Interrupted`` raised where Python can only print it ("Exception ignored in", a
    garbage-collector callback, say) is dropped quietly: ``raise_if_interrupted`` raises it
    again at the next point that checks."""

    def unraisable(info: Any) -> object:
        if isinstance(info.exc_value, Interrupted):
            return None
        return hook(info)

    return unraisable


def raise_if_interrupted() -> None:
    """Raise ``Interrupted`` again if a signal came and its exception was lost on the way out
    (replaced by another raised in a ``finally``, or caught by code that catches too much).
    Called between runs, where carrying on would be wrong."""
    if _interrupted is not None:
        raise Interrupted(_interrupted)


def signal_name(stop: BaseException) -> str:
    """Which signal an interruption stands for: ``SIGINT``, ``SIGTERM``..."""
    if isinstance(stop, Interrupted):
        return signal.Signals(stop.signum).name
    if isinstance(stop, SystemExit) and isinstance(stop.code, int) and stop.code > 128:
        with contextlib.suppress(ValueError):
            return signal.Signals(stop.code - 128).name
    return "SIGINT" if isinstance(stop, KeyboardInterrupt) else type(stop).__name__


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Inside ``signals_interrupt()``: raise ``Interrupted`` at once (the teardown on the way out
    stops the children), and on a second signal kill every child (SIGKILL) and exit without
    cleaning up. Elsewhere: stop every child, then do what the signal would have done:
    KeyboardInterrupt for SIGINT, exit status 128+N otherwise (raised as SystemExit, so
    ``finally`` blocks still run)."""
    global _in_handler, _interrupted
    if _term_interrupts:
        if _interrupted is not None:  # a second one: no grace, no teardown, no summary
            for supervisor in list(_LIVE):
                supervisor.stop_all(grace=0.0)
            os._exit(128 + signum)
        # Raised at once, with every server still up: a library's cleanup on the way out
        # (kombu cancelling a consumer) that met a stopped server would raise a connection
        # error in its place, which the harness takes for a fault and carries on.
        _interrupted = signum
        raise Interrupted(signum)
    if not _in_handler:  # a second signal during cleanup skips straight to the exit
        _in_handler = True
        try:
            stop_everything()
        finally:
            _in_handler = False
    previous = _previous.get(signum, signal.SIG_DFL)
    if _term_interrupts:
        raise Interrupted(signum)
    if callable(previous):
        previous(signum, frame)  # Python's default SIGINT handler raises KeyboardInterrupt
        return
    raise SystemExit(128 + signum)
