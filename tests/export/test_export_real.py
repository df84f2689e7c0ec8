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
from contextlib import contextmanager
from pathlib import Path

import pytest

from chord_chaos.check.known_issues import REGISTER
from chord_chaos.cli.main import main
from chord_chaos.harness.infra.ports import free_port
from tests.helpers import wait_for
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


def _reproduce(out: Path, tmp: Path, pythonpath: str | None) -> subprocess.CompletedProcess[str]:
    """Run the README's commands, the server on a free port, and return the script's run."""
    redis, worker, script = _commands((out / "README.md").read_text())
    port = str(free_port())
    redis[redis.index("--port") + 1] = port
    env = {**os.environ, "REPRO_BROKER_URL": f"redis://127.0.0.1:{port}/0",
           "REPRO_BACKEND_URL": f"redis://127.0.0.1:{port}/1"}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with _started(redis, out, env, tmp / "redis.log") as server, \
            _started(worker, out, env, tmp / "worker.log") as celery_worker:
        assert wait_for(lambda: b"Ready to accept" in (tmp / "redis.log").read_bytes(), 10), "no redis"
        done = subprocess.run(script, cwd=out, env=env, capture_output=True, text=True, timeout=90)
        assert server.poll() is None and celery_worker.poll() is None
    return done


def test_the_exported_repro_fails_on_celery_and_passes_with_the_line_fixed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    canvas = tmp_path / "nested.json"
    canvas.write_text(json.dumps(NESTED.minimal_canvas))
    assert main(["run", "--strict", str(canvas), "--report-dir", str(tmp_path / "reports")]) == 1
    report = Path(json.loads(capsys.readouterr().out.splitlines()[0])["report"])
    assert main(["export", str(report), "--out", str(tmp_path / "export")]) == 0
    out = tmp_path / "export"

    bug = _reproduce(out, tmp_path, None)
    assert bug.returncode == 1, bug.stdout + bug.stderr
    assert 'observed: {"status": "SUCCESS", "value": [["b"], ["a"], ["c"]]}' in bug.stdout
    assert "BUG REPRODUCED" in bug.stdout

    fixed = _reproduce(out, tmp_path, str(plant(FIX, tmp_path)))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert 'observed: {"status": "SUCCESS", "value": [["a"], ["b"], ["c"]]}' in fixed.stdout
    assert "did not reproduce" in fixed.stdout


def test_an_exported_child_kill_lands_on_the_pool_process_running_the_header_task(tmp_path: Path) -> None:
    """The plan's kill_child (at the start of a header task) as a plain step: repro.py finds the
    pool process through inspect().active() and SIGKILLs it; with acks early the chord fails
    with the killed child's WorkerLostError, which that fault excuses (exit 0)."""
    from dataclasses import replace

    from chord_chaos.check.history import ClientView
    from chord_chaos.models.faults import Anchor, Fault, FaultPlan
    from chord_chaos.models.vocabulary import FaultKind
    from chord_chaos.report.json_report import Origin, from_history, write
    from tests.check.runs import ran

    canvas = {"chord": {"header": [{"task": "sleep", "args": [3, "a"]}, {"task": "tag", "args": ["b"]}],
                        "body": {"task": "tag", "args": ["z"]}}}
    plan = FaultPlan((Fault(FaultKind.KILL_CHILD, "@anchor", 0.2, 1.0, anchor=Anchor("start", "header", 1)),))
    _, h = ran(canvas, skip=("$.chord.body",), client=ClientView("TIMEOUT"))  # say, it hung
    h = replace(h, faults=plan.to_json(), meta={**h.meta, "chaos": True, "strict": True})
    report = write(from_history(h, tmp_path / "h.json"), Origin(), tmp_path, "killed")
    assert main(["export", str(report), "--out", str(tmp_path / "export")]) == 0

    done = _reproduce(tmp_path / "export", tmp_path, None)
    log = (tmp_path / "worker.log").read_text()
    assert "signal 9 (SIGKILL)" in log and "WorkerLostError" in log, log[-2000:]
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "FAILURE"' in done.stdout and "WorkerLostError" in done.stdout
