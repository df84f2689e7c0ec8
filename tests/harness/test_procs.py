"""Process supervision on real processes: groups, cleanup on any exit, stale reaping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from chord_chaos.harness.procs import TOKEN_VAR, Supervisor, reap_stale


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_children_get_their_own_group_and_are_stopped(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "state")
    proc = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    assert json.loads(sup.registry.read_text())["pgids"] == [proc.pid]
    sup.stop_all()
    assert _gone(proc.pid)
    assert not sup.registry.exists()


HARNESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from chord_chaos.harness.procs import Supervisor
    sup = Supervisor(Path(sys.argv[1]))
    proc = sup.spawn(["sleep", "60"], "sleeper", Path(sys.argv[1]) / "sleep.log")
    print(proc.pid, flush=True)
    time.sleep(60)
""")


def _start_harness(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path / "state")],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert harness.stdout is not None
    child = int(harness.stdout.readline())
    return harness, child


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_harness_ended_by_any_signal_leaves_nothing_running(tmp_path: Path, sig: int) -> None:
    harness, child = _start_harness(tmp_path)
    try:
        assert psutil.pid_exists(child)
        harness.send_signal(sig)
        harness.wait(timeout=10)
        assert _gone(child), f"sleep {child} outlived a harness ended by {sig}"
    finally:
        harness.kill()


def test_reap_stale_kills_only_processes_carrying_the_dead_owners_token(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    ours = subprocess.Popen(["sleep", "30"], start_new_session=True,
                            env={**os.environ, TOKEN_VAR: "dead-owner"})
    other = subprocess.Popen(["sleep", "30"], start_new_session=True,
                             env={**os.environ, TOKEN_VAR: "someone-else"})
    try:
        (state / "supervisor-1-dead.json").write_text(json.dumps(
            {"owner": 999_999_999, "owner_started": 0.0, "token": "dead-owner",
             "pgids": [ours.pid, other.pid]}))
        assert reap_stale(state) == 1
        assert _gone(ours.pid)
        assert psutil.pid_exists(other.pid) and other.poll() is None
        assert not list(state.glob("supervisor-*.json"))
    finally:
        ours.kill()
        other.kill()
        ours.wait()
        other.wait()


def test_reap_stale_leaves_a_live_owner_alone(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "state")
    proc = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")
    try:
        assert reap_stale(tmp_path / "state") == 0
        assert proc.alive()
    finally:
        sup.stop_all()
