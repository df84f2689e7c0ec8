"""The process registry on real processes: reaping what a dead harness left, by pid and start
time, never by name; the state directory; the lock; ``make clean``'s reap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from chord_chaos.harness.infra import registry
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.registry import ProcRecord, Registry, default_state_dir, reap_stale
from chord_chaos.harness.infra.supervisor import Supervisor
from tests.helpers import gone, running, wait_for

pytestmark = pytest.mark.cluster


def _dead_owner() -> tuple[int, float]:
    """The pid and create_time of a process that has exited (a killed harness)."""
    proc = subprocess.Popen(["true"])
    create_time = psutil.Process(proc.pid).create_time()  # readable while running or a zombie
    proc.wait(timeout=10)
    return proc.pid, create_time


def _record(proc: subprocess.Popen[bytes], owner: tuple[int, float], create_time: float | None = None,
            ) -> ProcRecord:
    real = psutil.Process(proc.pid).create_time()
    return ProcRecord(pid=proc.pid, pgid=os.getpgid(proc.pid), create_time=create_time or real,
                      argv=("orphan",), role="orphan", log="",
                      owner_pid=owner[0], owner_create_time=owner[1])


def test_reap_stale_kills_the_group_of_a_dead_owners_process(tmp_path: Path) -> None:
    orphan = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], start_new_session=True)
    try:
        assert wait_for(lambda: len(psutil.Process(orphan.pid).children()) == 2)
        members = [c.pid for c in psutil.Process(orphan.pid).children()]
        Registry(tmp_path).add(_record(orphan, _dead_owner()))
        assert [r.pid for r in reap_stale(tmp_path)] == [orphan.pid]
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert all(gone(pid) for pid in members)
        assert Registry(tmp_path).records() == []
    finally:
        orphan.kill()
        orphan.wait(timeout=10)


def test_reap_stale_spares_a_pid_whose_create_time_differs(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        recycled = psutil.Process(stranger.pid).create_time() - 5.0  # same pid, another process
        Registry(tmp_path).add(_record(stranger, _dead_owner(), create_time=recycled))
        assert reap_stale(tmp_path) == []
        assert running(stranger.pid)
        assert Registry(tmp_path).records() == []  # the stale record is dropped all the same
    finally:
        stranger.kill()
        stranger.wait(timeout=10)


def test_reap_stale_spares_a_live_owners_processes(sup: Supervisor, tmp_path: Path) -> None:
    proc = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")
    assert reap_stale(sup.state_dir) == []
    assert proc.alive()
    assert [r.pid for r in Registry(sup.state_dir).records()] == [proc.pid]


def test_a_corrupt_registry_does_not_stop_a_start(tmp_path: Path) -> None:
    (tmp_path / "pids.json").write_text("{not json")
    sup = Supervisor(tmp_path)
    try:
        proc = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")
        assert [r.pid for r in Registry(tmp_path).records()] == [proc.pid]
    finally:
        sup.stop_all()


def test_the_default_state_dir_is_at_the_checkout_root(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub").mkdir()
    assert default_state_dir(tmp_path / "repo" / "sub") == tmp_path / "repo" / ".cc-runs"
    assert default_state_dir(tmp_path) == tmp_path / ".cc-runs"


def test_a_registry_lock_held_elsewhere_is_waited_for_a_bounded_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "LOCK_TIMEOUT", 0.2)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(30)
    """), str(tmp_path / "pids.json.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        t0 = time.monotonic()
        with pytest.raises(HarnessError, match=r"pids\.json\.lock stayed locked for 0\.2 s"):
            Registry(tmp_path).records()
        assert time.monotonic() - t0 < 2
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert Registry(tmp_path).records() == []  # free again once the holder is gone


def test_make_clean_stops_a_dead_harness_leftovers_and_refuses_while_one_runs(
        sup: Supervisor, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orphan = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        (tmp_path / "state" / "xdist-gw0").mkdir(parents=True)
        Registry(tmp_path / "state" / "xdist-gw0").add(_record(orphan, _dead_owner()))
        mine = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")  # a live harness's
        assert registry.main(["reap", str(tmp_path / "state")]) == 1
        assert orphan.wait(timeout=5) == -signal.SIGKILL and mine.alive()
        out, err = capsys.readouterr()
        assert f"stopped orphan (pid {orphan.pid})" in out
        assert f"belong to a running harness (pid {os.getpid()})" in err
        sup.stop_all()
        assert registry.main(["reap", str(tmp_path / "state")]) == 0
        assert registry.main(["clean"]) == 2
    finally:
        orphan.kill()
        orphan.wait(timeout=10)
