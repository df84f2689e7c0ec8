"""A real cluster: workers answer, canvases run, a dead worker makes a verdict unknown,
and closing stops every process it started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from chord_chaos.harness.cluster import Cluster
from chord_chaos.harness.errors import HarnessError
from chord_chaos.harness.ledger import read_events
from chord_chaos.harness.runner import Job, Runner
from chord_chaos.models.canvas import parse_workload

pytestmark = pytest.mark.cluster

CHORD = {"chord": {"header": [{"task": "add", "args": [2, 2]}, {"task": "add", "args": [4, 4]}],
                   "body": {"task": "tsum", "link": {"task": "tag", "args": ["done"]}}}}


def _pids(cluster: Cluster) -> list[int]:
    assert cluster.supervisor is not None
    pids = []
    for managed in cluster.supervisor.procs:
        pids.append(managed.pid)
        pids.extend(c.pid for c in psutil.Process(managed.pid).children(recursive=True))
    return pids


@pytest.mark.parametrize("backend", ["redis", "database"])
def test_a_chord_runs_is_recorded_and_everything_stops(backend: str, tmp_path: Path) -> None:
    with Cluster(backend=backend, run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        assert c.health() == []
        runner = Runner(c, tmp_path / "out", timeout=20)
        [result] = runner.run([Job("chord", parse_workload(CHORD))])
        assert result.verdict.verdict == "pass", result.to_json()
        assert result.history.client.value == 12
        assert result.history_path.exists()
        nodes = {e.node for e in read_events(c.ledger_dir)}
        assert nodes == {"$.chord.header[0]", "$.chord.header[1]", "$.chord.body",
                         "$.chord.body.link"}
        pids = _pids(c)
        assert len(pids) >= 2 + 2 * 3 - (1 if backend == "database" else 0)
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_a_dead_worker_makes_the_verdict_unknown(tmp_path: Path) -> None:
    with Cluster(run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        c.workers[1].kill()
        c.workers[1].proc.popen.wait(timeout=10)  # type: ignore[union-attr]
        runner = Runner(c, tmp_path / "out", timeout=10)
        [result] = runner.run([Job("chord", parse_workload(CHORD))])
        assert result.verdict.verdict == "unknown"
        assert "worker w1@127.0.0.1 is not running" in result.verdict.reasons


def test_an_unknown_backend_is_a_one_line_error() -> None:
    with pytest.raises(HarnessError, match="unknown backend 'mongo'; use one of redis, database"):
        Cluster(backend="mongo")


def test_run_command_prints_json_lines_with_known_issues(tmp_path: Path) -> None:
    nested = {"chain": [{"task": "tag", "args": ["x"]},
                        {"group": [{"group": [{"task": "tag", "args": ["a"], "immutable": True},
                                              {"task": "tag", "args": ["b"], "immutable": True}]},
                                   {"task": "tag", "args": ["c"], "immutable": True}]}]}
    files = []
    for name, canvas in (("chord.json", CHORD), ("nested.json", nested)):
        (tmp_path / name).write_text(json.dumps(canvas))
        files.append(str(tmp_path / name))
    exe = Path(sys.executable).parent / "chord-chaos"
    proc = subprocess.run([str(exe), "run", *files, "--report-dir", str(tmp_path / "rep")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(x["file"], x["verdict"]) for x in lines] == [(files[0], "pass"), (files[1], "pass")]
    assert [k["issue"] for k in lines[1]["known_issues"]] == ["nested-group-order"]
    again = subprocess.run([str(exe), "analyze", lines[1]["history"]], capture_output=True,
                           text=True, timeout=60, check=False)
    assert again.returncode == 0 and json.loads(again.stdout)["known_issues"]


def test_run_rejects_bad_input_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"chord": {"header": []}}')
    exe = Path(sys.executable).parent / "chord-chaos"
    proc = subprocess.run([str(exe), "run", str(bad)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("chord without body; add \"body\": CANVAS")
    assert not (tmp_path / ".cc-runs").exists()
