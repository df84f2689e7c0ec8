"""The exported reproduction of a registered deviation (``nested-group-order``) runs with plain
Celery: a redis-server and a worker started from the exported README's own commands. It exits 1
with the reversed value, and 0 on a copy of Celery with the one line behind it fixed."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chord_chaos.check.history import ClientView
from chord_chaos.check.known_issues import REGISTER
from chord_chaos.cli.main import main
from chord_chaos.harness.infra.ports import free_port
from chord_chaos.models.faults import Anchor, Fault, FaultPlan
from chord_chaos.models.vocabulary import FaultKind
from chord_chaos.report.json_report import Origin, from_history, write
from tests.check.runs import ran
from tests.helpers import running, wait_for
from tests.quality.planted import Planted, plant

pytestmark = pytest.mark.cluster

NESTED = next(k for k in REGISTER if k.id == "nested-group-order")
# celery/canvas.py, group._freeze_unroll: extendleft puts a nested group's members on the stack
# in reverse, so they are frozen (and their results ordered) last to first.
FIX = Planted("nested-group-order-fixed", "canvas.py", "stack.extendleft(task.tasks)",
              "stack.extendleft(reversed(task.tasks))", "nested groups keep their members' order")


def _commands(readme: str) -> list[list[str]]:
    """The README's run block, one argv per line, on this machine's Python and Celery."""
    block = readme.split("```sh\n")[2].split("```")[0]
    argvs = []
    for line in block.splitlines():
        argv = shlex.split(line.removesuffix(" &"))
        if argv[0] == "celery":
            argv = [sys.executable, "-m", "celery", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        argvs.append(argv)
    return argvs


@contextmanager
def _started(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _reproduce(out: Path, tmp: Path, pythonpath: str | None, get_timeout: float = 30.0
               ) -> tuple[subprocess.CompletedProcess[str], list[int | None]]:
    """Run the README's commands, each redis-server on a free port, and return the script's run
    and the exit status of each server and the worker as the script ended (None: running)."""
    *servers, worker, script = _commands((out / "README.md").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["REPRO_GET_TIMEOUT"] = str(get_timeout)
    ports = {argv[argv.index("--port") + 1]: str(free_port()) for argv in servers}
    for argv in servers:
        argv[argv.index("--port") + 1] = ports[argv[argv.index("--port") + 1]]
    backend = ports.get("6380", ports["6379"])
    env["REPRO_BROKER_URL"] = f"redis://127.0.0.1:{ports['6379']}/0"
    env["REPRO_BACKEND_URL"] = f"redis://127.0.0.1:{backend}/{0 if '6380' in ports else 1}"
    with ExitStack() as stack:
        procs = [stack.enter_context(_started(argv, out, env, tmp / f"redis-{i}.log"))
                 for i, argv in enumerate(servers)]
        logs = [tmp / f"redis-{i}.log" for i in range(len(servers))]
        assert wait_for(lambda: all(b"Ready to accept" in log.read_bytes() for log in logs), 10)
        procs.append(stack.enter_context(_started(worker, out, env, tmp / "worker.log")))
        done = subprocess.run(script, cwd=out, env=env, capture_output=True, text=True, timeout=90)
        return done, [p.poll() for p in procs]


def test_the_exported_repro_fails_on_celery_and_passes_with_the_line_fixed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    canvas = tmp_path / "nested.json"
    canvas.write_text(json.dumps(NESTED.minimal_canvas))
    assert main(["run", "--strict", str(canvas), "--report-dir", str(tmp_path / "reports")]) == 1
    report = Path(json.loads(capsys.readouterr().out.splitlines()[0])["report"])
    assert main(["export", str(report), "--out", str(tmp_path / "export")]) == 0
    out = tmp_path / "export"

    bug, alive = _reproduce(out, tmp_path, None)
    assert bug.returncode == 1 and alive == [None, None], bug.stdout + bug.stderr
    assert 'observed: {"status": "SUCCESS", "value": [["b"], ["a"], ["c"]]}' in bug.stdout
    assert "BUG REPRODUCED" in bug.stdout

    fixed, alive = _reproduce(out, tmp_path, str(plant(FIX, tmp_path)))
    assert fixed.returncode == 0 and alive == [None, None], fixed.stdout + fixed.stderr
    assert 'observed: {"status": "SUCCESS", "value": [["a"], ["b"], ["c"]]}' in fixed.stdout
    assert "did not reproduce" in fixed.stdout


def test_an_exported_child_kill_lands_on_the_pool_process_running_the_header_task(tmp_path: Path) -> None:
    """The plan's kill_child (at the start of a header task) as a plain step: repro.py finds the
    pool process through inspect().active() and SIGKILLs it; with acks early the chord fails
    with the killed child's WorkerLostError, which that fault excuses (exit 0)."""
    canvas = {"chord": {"header": [{"task": "sleep", "args": [3, "a"]}, {"task": "tag", "args": ["b"]}],
                        "body": {"task": "tag", "args": ["z"]}}}
    plan = FaultPlan((Fault(FaultKind.KILL_CHILD, "@anchor", 0.2, 1.0,
                            anchor=Anchor("start", "header", 1)),))
    report = _faulted_report(tmp_path, canvas, plan)  # say, it hung
    assert main(["export", str(report), "--out", str(tmp_path / "export")]) == 0

    done, alive = _reproduce(tmp_path / "export", tmp_path, None)
    log = (tmp_path / "worker.log").read_text()
    assert alive == [None, None]  # the worker replaced its pool process
    assert "signal 9 (SIGKILL)" in log and "WorkerLostError" in log, log[-2000:]
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "FAILURE"' in done.stdout and "WorkerLostError" in done.stdout


def _faulted_report(tmp_path: Path, canvas: dict[str, Any], plan: FaultPlan,
                    client: ClientView | None = None) -> Path:
    """A strict chaos report of ``canvas`` under ``plan`` whose result never resolved (or that
    ``client`` saw)."""
    _, h = ran(canvas, skip=("$.chord.body",), client=client or ClientView("TIMEOUT"))
    h = replace(h, faults=plan.to_json(), meta={**h.meta, "chaos": True, "strict": True})
    return write(from_history(h, tmp_path / "h.json"), Origin(), tmp_path, "faulted")


def test_an_exported_backend_restart_kills_that_server_and_starts_it_again(tmp_path: Path) -> None:
    """restart_redis on the backend: the README starts a redis-server per role, and repro.py
    SIGKILLs the backend's (found through INFO server) once the header task starts, starts it
    again on its port, and stops the one it started when it ends. Data loss excuses any outcome."""
    canvas = {"chord": {"header": [{"task": "sleep", "args": [2, "a"]}],
                        "body": {"task": "tag", "args": ["z"]}}}
    plan = FaultPlan((Fault(FaultKind.RESTART_REDIS, "backend", 0.1, 0.0,
                            anchor=Anchor("start", "header", 1)),))
    report = _faulted_report(tmp_path, canvas, plan, ClientView("SUCCESS", ["z", "a"]))  # say
    assert main(["export", str(report), "--out", str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "README.md").read_text().count("redis-server --port") == 2

    done, (broker, backend, worker) = _reproduce(tmp_path / "export", tmp_path, None, get_timeout=5)
    restarted = [int(line.rsplit(" ", 1)[1].rstrip(")")) for line in done.stdout.splitlines()
                 if line.startswith("restarted redis-server on port")]
    for pid in restarted:  # started by repro.py on the test's behalf: ours to stop
        os.kill(pid, signal.SIGTERM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (broker, backend, worker) == (None, -signal.SIGKILL, None)  # the backend's was killed
    assert len(restarted) == 1 and "Traceback" not in done.stderr
    assert wait_for(lambda: not running(restarted[0]), 10)
