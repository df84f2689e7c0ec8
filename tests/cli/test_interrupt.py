"""Ctrl-C and SIGTERM on long commands, on real clusters: the command stops within seconds,
writes what it has (the summary marks the run in flight ``interrupted``, not unknown, with no
failure report for it), prints no traceback, exits 128+N and leaves nothing running. A second
Ctrl-C stops at once. The signal goes to the whole process group, as a terminal sends it, or
to the main process alone, at three moments: during a run, while shrinking a failure, and in
a fault's recovery window."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chord_chaos.harness.infra.registry import STATE_DIR_VAR, Registry, reap_stale
from tests.helpers import gone

pytestmark = pytest.mark.cluster

STOP_WITHIN = 15.0  # seconds from the signal to the exit: at most the teardown of one run
# Every run of the campaign counts as a violation, so that a real shrink phase starts after the
# first run (what the test needs is the phase, not a Celery bug); the rest is the real command.
SHRINKING_CHAOS = textwrap.dedent("""
    import sys
    from chord_chaos.campaign import campaign
    from chord_chaos.cli.main import main
    campaign.signature = lambda result: frozenset({"planted"})
    sys.exit(main(sys.argv[1:]))
""")
OUTLIVES_RECOVERY = {"chord": {"header": [{"task": "sleep", "args": [30, "slow"]}],
                               "body": {"task": "tag", "args": ["z"]}}}


class Command:
    """A chord-chaos command in its own session, its state and reports under one directory."""

    def __init__(self, tmp_path: Path, argv: list[str]) -> None:
        self.state = tmp_path / ".cc-runs"
        self.reports = tmp_path / "reports"
        self.proc = subprocess.Popen(
            [sys.executable, *argv, "--report-dir", str(self.reports)], cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, STATE_DIR_VAR: str(self.state), "CC_PLAIN_PROGRESS": "1"})

    def progress_line(self) -> str:
        """The next line on stderr (bounded: a run ends within its fault and recovery windows)."""
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert line.startswith("["), f"no progress: {line!r} (exit {self.proc.poll()})"
        return line

    def wait_for_processes(self, at_least: int, timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(Registry(self.state).records()) < at_least:
            assert time.monotonic() < deadline and self.proc.poll() is None, "the cluster never started"
            time.sleep(0.05)
        return [r.pid for r in Registry(self.state).records()]

    def interrupt(self, target: str, sig: int = signal.SIGINT) -> None:
        if target == "group":
            os.killpg(self.proc.pid, sig)  # what a terminal's Ctrl-C does (the servers have their own)
        else:
            self.proc.send_signal(sig)

    def finish(self, timeout: float = STOP_WITHIN) -> tuple[int, str, str, float]:
        t0 = time.monotonic()
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err, time.monotonic() - t0

    def summary(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.reports / "summary.json").read_text())
        return loaded

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)
        reap_stale(self.state)


@pytest.fixture
def commands(tmp_path: Path) -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for c in started:
        c.close()


def _chaos(tmp_path: Path, *args: str, script: str | None = None) -> Command:
    head = ["-c", script] if script else ["-m", "chord_chaos.cli.main"]
    return Command(tmp_path, [*head, "chaos", "--budget", "300", "--backend", "redis", "--seed", "1",
                              "--database", "none", *args])


def _stopped_cleanly(c: Command, pids: list[int], code: int, err: str, took: float,
                     expected: int = 130) -> None:
    assert code == expected, err
    assert took < STOP_WITHIN
    assert "Traceback" not in err and "Flaky" not in err, err
    assert all(gone(pid, 10) for pid in pids), "a process outlived the command"
    assert Registry(c.state).records() == []


@pytest.mark.parametrize("target", ["group", "main"])
def test_ctrl_c_during_a_run_marks_it_interrupted(tmp_path: Path, commands: list[Command],
                                                  target: str) -> None:
    c = _chaos(tmp_path, "--scenario", "worker-killed-mid-header")
    commands.append(c)
    pids = c.wait_for_processes(5)
    c.progress_line()
    time.sleep(1.0)  # the next run is in flight: its header tasks sleep, a kill is coming
    c.interrupt(target)
    code, out, err, took = c.finish()
    _stopped_cleanly(c, pids, code, err, took)
    summary = c.summary()
    assert summary["interrupted"] == "SIGINT"
    [tally] = summary["scenarios"]
    assert tally["interrupted"] == 1 and tally["runs"] == tally["passed"] + tally["violations"] + \
        tally["unknown"] + tally["interrupted"] >= 2
    assert all(f["verdict"] != "unknown" for f in summary["failures"])
    assert "summary:" in out and "interrupted (SIGINT)" in err


@pytest.mark.parametrize("target", ["group", "main"])
def test_ctrl_c_while_shrinking_stops_without_a_flaky_error(tmp_path: Path, commands: list[Command],
                                                             target: str) -> None:
    c = _chaos(tmp_path, "--scenario", "broker-latency", "--shrink-budget", "120",
               script=SHRINKING_CHAOS)
    commands.append(c)
    pids = c.wait_for_processes(4)
    c.progress_line()  # the first case "failed": shrinking begins
    c.progress_line()  # a shrink candidate ran
    c.interrupt(target)
    code, _, err, took = c.finish()
    _stopped_cleanly(c, pids, code, err, took)
    summary = c.summary()
    assert summary["interrupted"] == "SIGINT" and summary["scenarios"][0]["shrink_runs"] >= 1
    assert [f["stage"] for f in summary["failures"]] == ["first"]  # the planted one, nothing else


@pytest.mark.parametrize("target", ["group", "main"])
def test_ctrl_c_in_a_recovery_window_stops_a_faulted_run(tmp_path: Path, commands: list[Command],
                                                         target: str) -> None:
    """A header task outlives the recovery window (15 s after a fault healed at 0.1 s): a signal
    3 s in lands in that window."""
    (tmp_path / "canvas.json").write_text(json.dumps(OUTLIVES_RECOVERY))
    (tmp_path / "plan.json").write_text(json.dumps({"faults": [
        {"kind": "latency", "target": "*.broker", "at": 0.0, "duration": 0.1, "params": {"latency": 5}}]}))
    c = Command(tmp_path, ["-m", "chord_chaos.cli.main", "run", str(tmp_path / "canvas.json"),
                           "--faults", str(tmp_path / "plan.json")])
    commands.append(c)
    pids = c.wait_for_processes(5)  # two redis-servers, toxiproxy, two workers
    time.sleep(3.0)  # submitted, the fault healed at 0.1 s, the recovery window lasts 15 s
    assert c.proc.poll() is None
    c.interrupt(target)
    code, out, err, took = c.finish()
    _stopped_cleanly(c, pids, code, err, took)
    assert out == "" and err.strip() == "chord-chaos: interrupted; every process started was stopped"


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path, commands: list[Command]) -> None:
    c = _chaos(tmp_path, "--scenario", "worker-killed-mid-header")
    commands.append(c)
    pids = c.wait_for_processes(5)
    c.progress_line()
    c.interrupt("group")
    time.sleep(0.2)  # the first is still tearing the run down
    c.interrupt("group")
    code, _, err, took = c.finish()
    _stopped_cleanly(c, pids, code, err, took)
    assert took < 5.0


def test_sigterm_is_an_interruption_too(tmp_path: Path, commands: list[Command]) -> None:
    c = _chaos(tmp_path, "--scenario", "broker-latency")
    commands.append(c)
    pids = c.wait_for_processes(4)
    c.progress_line()
    c.interrupt("main", signal.SIGTERM)
    code, _, err, took = c.finish()
    _stopped_cleanly(c, pids, code, err, took, expected=128 + signal.SIGTERM)
    assert c.summary()["interrupted"] == "SIGTERM"


def test_a_killed_command_leaves_no_orphan(tmp_path: Path, commands: list[Command]) -> None:
    """SIGKILL leaves no teardown at all: PDEATHSIG takes every process down, those the nemesis
    thread restarted included, and the next start reaps what is left in the registry."""
    c = _chaos(tmp_path, "--scenario", "worker-killed-mid-header")
    commands.append(c)
    pids = c.wait_for_processes(5)
    c.progress_line()  # a worker was killed and restarted by the nemesis thread
    c.proc.kill()
    c.proc.wait(timeout=10)
    assert all(gone(pid, 10) for pid in pids)
    assert all(gone(r.pid, 10) for r in Registry(c.state).records())


@pytest.mark.parametrize("target", ["group", "main"])
def test_ctrl_c_stops_parallel_workers_and_merges_what_they_wrote(
        tmp_path: Path, commands: list[Command], target: str) -> None:
    c = _chaos(tmp_path, "--workers", "2", "--scenario", "broker-latency", "--scenario",
               "worker-killed-mid-header")
    commands.append(c)
    pids = c.wait_for_processes(10)  # two clusters of five
    c.progress_line()
    c.interrupt(target)
    code, out, err, took = c.finish()
    _stopped_cleanly(c, pids, code, err, took)
    merged = c.summary()
    assert merged["merged_from"] == 2 and merged["interrupted"] == "SIGINT" and "2 workers" in out
    t = merged["totals"]  # a child stopped between runs has no interrupted run: every run counted
    assert t["runs"] == t["passed"] + t["violations"] + t["unknown"] + t["interrupted"] >= 1
