"""Process supervision: every process the harness starts is recorded and stopped.

Each child runs in its own process group (so a worker's pool children go with it), dies with
the harness through ``PR_SET_PDEATHSIG``, and carries a per-supervisor token in its
environment. A registry file per supervisor lists the groups; ``reap_stale`` on the next start
stops the groups of a supervisor that no longer exists, and only processes that carry its
token: nothing is ever killed by name.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

TOKEN_VAR = "CC_SUPERVISOR_TOKEN"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when the harness dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Managed:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        reap_stale(state_dir)
        self.token = uuid.uuid4().hex
        self.registry = state_dir / f"supervisor-{os.getpid()}-{self.token[:8]}.json"
        self.procs: list[Managed] = []
        self._lock = threading.Lock()
        atexit.register(self.stop_all)
        _install_sigterm_handler()

    def spawn(self, argv: Sequence[str], role: str, log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Managed:
        full_env = {**os.environ, **(env or {}), TOKEN_VAR: self.token,
                    "CC_OWNER_PID": str(os.getpid())}
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=full_env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
            )
        managed = Managed(role, popen, log)
        with self._lock:
            self.procs.append(managed)
            self._save()
        return managed

    def stop(self, managed: Managed, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
        """Signal the process group, then SIGKILL it after ``grace`` seconds."""
        _signal_group(managed.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            managed.popen.wait(timeout=grace)
        _signal_group(managed.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            managed.popen.wait(timeout=5)
        with self._lock:
            if managed in self.procs:
                self.procs.remove(managed)
            self._save()

    def stop_all(self, grace: float = 3.0) -> None:
        for managed in list(reversed(self.procs)):
            _signal_group(managed.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for managed in list(reversed(self.procs)):
            self.stop(managed, grace=max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(FileNotFoundError):
            self.registry.unlink()

    def _save(self) -> None:
        data = {"owner": os.getpid(), "owner_started": psutil.Process().create_time(),
                "token": self.token, "pgids": [m.pid for m in self.procs]}
        tmp = self.registry.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.registry)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def reap_stale(state_dir: Path) -> int:
    """Stop what a dead supervisor left behind; returns how many processes were signalled."""
    killed = 0
    for path in state_dir.glob("supervisor-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if _owner_alive(int(data["owner"]), float(data["owner_started"])):
            continue
        pgids = set(data.get("pgids", []))
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) in pgids and proc.environ().get(TOKEN_VAR) == data["token"]:
                    proc.kill()
                    killed += 1
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return killed


def _owner_alive(pid: int, started: float) -> bool:
    try:
        return bool(abs(psutil.Process(pid).create_time() - started) < 0.01)
    except psutil.Error:
        return False


def _install_sigterm_handler() -> None:
    """SIGTERM unwinds like Ctrl-C does, so ``with`` blocks and atexit stop every child."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
