"""Process supervision on real processes: groups, escalation, cleanup on any exit, reaping."""

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

from chord_chaos.harness.infra import supervisor
from chord_chaos.harness.infra.registry import Registry, reap_stale
from chord_chaos.harness.infra.supervisor import OWNER_VAR, Supervisor
from tests.helpers import gone, running, wait_for

pytestmark = pytest.mark.cluster


def test_a_child_gets_its_own_group_and_a_full_registry_record(sup: Supervisor, tmp_path: Path) -> None:
    proc = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    [record] = Registry(sup.state_dir).records()
    assert (record.pid, record.pgid, record.argv, record.role) == (proc.pid, proc.pid, ("sleep", "30"),
                                                                   "sleeper")
    assert record.create_time == psutil.Process(proc.pid).create_time()
    assert (record.owner_pid, record.owner_create_time) == (os.getpid(), psutil.Process().create_time())
    assert psutil.Process(proc.pid).environ()[OWNER_VAR] == str(os.getpid())
    assert json.loads((sup.state_dir / "pids.json").read_text())["procs"][0]["pid"] == proc.pid


def test_stop_escalates_to_sigkill_after_the_grace(sup: Supervisor, tmp_path: Path) -> None:
    stubborn = ("import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ignoring', flush=True)\ntime.sleep(30)")
    log = tmp_path / "stubborn.log"
    proc = sup.spawn([sys.executable, "-c", stubborn], "stubborn", log)
    assert wait_for(lambda: "ignoring" in log.read_text())
    t0 = time.monotonic()
    assert sup.stop(proc, grace=0.3) == -signal.SIGKILL
    assert 0.3 <= time.monotonic() - t0 < 3
    assert Registry(sup.state_dir).records() == []


def test_stop_reaches_the_whole_group(sup: Supervisor, tmp_path: Path) -> None:
    proc = sup.spawn(["sh", "-c", "sleep 30 & sleep 30 & wait"], "shell", tmp_path / "sh.log")
    assert wait_for(lambda: len(psutil.Process(proc.pid).children()) == 2)
    grandchildren = [c.pid for c in psutil.Process(proc.pid).children()]
    assert sup.stop(proc, grace=2.0) == -signal.SIGTERM
    assert all(gone(pid) for pid in grandchildren)


def test_stop_all_stops_everything_at_once(sup: Supervisor, tmp_path: Path) -> None:
    procs = [sup.spawn(["sleep", "30"], f"s{i}", tmp_path / f"s{i}.log") for i in range(3)]
    sup.stop_all()
    assert [p.returncode for p in procs] == [-signal.SIGTERM] * 3
    assert sup.procs == [] and Registry(sup.state_dir).records() == []


def test_two_supervisors_share_one_registry(tmp_path: Path) -> None:
    first, second = Supervisor(tmp_path / "state"), Supervisor(tmp_path / "state")
    try:
        a = first.spawn(["sleep", "30"], "a", tmp_path / "a.log")
        b = second.spawn(["sleep", "30"], "b", tmp_path / "b.log")
        assert {r.pid for r in Registry(tmp_path / "state").records()} == {a.pid, b.pid}
        first.stop_all()
        assert [r.pid for r in Registry(tmp_path / "state").records()] == [b.pid]
    finally:
        first.stop_all()
        second.stop_all()


HARNESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from chord_chaos.harness.infra.supervisor import Supervisor
    from chord_chaos.harness.infra.redis_server import RedisServer
    state = Path(sys.argv[1])
    server = RedisServer(Supervisor(state), state / "work", "victim").start()
    print(server.pid, flush=True)
    time.sleep(60)
""")


def _harness_with_redis(state: Path) -> tuple[subprocess.Popen[str], int]:
    """A child harness process that started a redis-server; returns it and the server's pid."""
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(state)], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    assert harness.stdout is not None
    line = harness.stdout.readline()  # bounded: the harness prints or dies within READY_TIMEOUT
    assert line.strip().isdigit(), f"child harness failed to start redis (exit {harness.wait(10)})"
    return harness, int(line)


def test_a_sigkilled_harness_leaves_no_orphan(tmp_path: Path) -> None:
    state = tmp_path / "state"
    harness, redis_pid = _harness_with_redis(state)
    try:
        assert running(redis_pid)
        harness.kill()
        assert harness.wait(timeout=10) == -signal.SIGKILL
        assert gone(redis_pid), "PR_SET_PDEATHSIG did not take the redis-server down"
        assert [r.pid for r in Registry(state).records()] == [redis_pid]  # nobody cleaned up...
        Supervisor(state, handle_signals=False)  # ...until the next start reaps the dead owner's
        assert Registry(state).records() == []
    finally:
        harness.kill()
        harness.wait(timeout=10)
        reap_stale(state)  # if the test failed, what the dead harness left goes here


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 143)])
def test_a_signalled_harness_stops_its_redis_gracefully(tmp_path: Path, sig: int, status: int) -> None:
    state = tmp_path / "state"
    harness, redis_pid = _harness_with_redis(state)
    try:
        harness.send_signal(sig)
        assert harness.wait(timeout=10) == status  # KeyboardInterrupt / exit 128+15, as usual
        assert not running(redis_pid)
        # SIGTERM from the handler, not the kernel's SIGKILL from PDEATHSIG: redis said goodbye.
        assert "ready to exit, bye bye" in (state / "work" / "redis-victim.log").read_text()
        assert Registry(state).records() == []
    finally:
        harness.kill()
        harness.wait(timeout=10)
        reap_stale(state)  # if the test failed, what the dead harness left goes here


def test_a_forked_copy_of_the_harness_does_not_stop_the_parents_children(
        sup: Supervisor, tmp_path: Path) -> None:
    proc = sup.spawn(["sleep", "30"], "sleeper", tmp_path / "sleep.log")
    child = os.fork()
    if child == 0:  # what a forked helper's atexit would do on its way out
        try:
            supervisor.stop_everything()
        finally:
            os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    assert proc.alive()
    assert [r.pid for r in Registry(sup.state_dir).records()] == [proc.pid]
