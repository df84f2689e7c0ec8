"""A real cluster on both backends: workers answer, tasks and chords run and are recorded, a dead
worker makes a verdict unknown, and every process it started stops, however the run ends."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from celery.exceptions import TimeoutError as CeleryTimeout

from chord_chaos.check.result import Job
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.redis_server import RedisServer
from chord_chaos.harness.infra.registry import Registry, reap_stale
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.harness.run.ledger_reader import read_events
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.vocabulary import BACKENDS
from tests.helpers import descendants, gone

pytestmark = pytest.mark.cluster

CHORD = {"chord": {"header": [{"task": "add", "args": [2, 2]}, {"task": "add", "args": [4, 4]}],
                   "body": {"task": "tsum", "link": {"task": "tag", "args": ["done"]}}}}


@pytest.fixture(scope="module", params=list(BACKENDS))
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp(f"cluster-{request.param}")
    with Cluster(backend=request.param, run_dir=base / "run", state_dir=base / "state") as c:
        yield c


def _tree(cluster: Cluster) -> list[int]:
    """Every process the cluster runs: each spawned process and its descendants."""
    assert cluster.supervisor is not None
    pids = []
    for managed in cluster.supervisor.procs:
        pids.append(managed.pid)
        pids.extend(c.pid for c in psutil.Process(managed.pid).children(recursive=True))
    return pids


def test_it_is_wired_as_asked(cluster: Cluster) -> None:
    assert isinstance(cluster.broker, RedisServer) and cluster.broker_url == cluster.broker.url(0)
    assert [w.hostname for w in cluster.workers] == ["w0@127.0.0.1", "w1@127.0.0.1"]
    assert [len(w.pool_pids()) for w in cluster.workers] == [2, 2]
    if cluster.backend == "redis":
        assert cluster.backend_redis is not None
        assert cluster.backend_url == cluster.backend_redis.url(0) != cluster.broker_url
    else:
        assert cluster.backend_redis is None
        assert cluster.backend_url == f"db+sqlite:///{cluster.run_dir / 'results.sqlite'}"
    assert cluster.health() == []


def test_every_worker_answers_a_ping(cluster: Cluster) -> None:
    hosts = [w.hostname for w in cluster.workers]
    replies = cluster.app.control.ping(destination=hosts, timeout=2, limit=len(hosts))
    assert sorted(host for reply in replies for host in reply) == hosts


def test_a_task_runs_and_the_ledger_has_its_start_and_end(cluster: Cluster) -> None:
    run = uuid.uuid4().hex
    sig = cluster.app.signature("cc.add", (2, 2), {"cc": {"run": run, "node": "$"}})
    assert sig.apply_async().get(timeout=10) == 4
    events = read_events(cluster.ledger_dir, run=run)
    assert [(e.node, e.kind) for e in events] == [("$", "start"), ("$", "end")]
    assert events[1].outcome == {"ok": 4}
    assert events[0].hostname in {w.hostname for w in cluster.workers}


def test_a_chord_runs_through_the_runner(cluster: Cluster, tmp_path: Path) -> None:
    [result] = BatchRunner(cluster, tmp_path / "out", timeout=20).run([Job("chord", parse_workload(CHORD))])
    assert result.verdict.verdict == "pass", result.to_json()
    assert result.history.client.value == 12
    assert result.history_path.exists()
    assert {e.node for e in read_events(cluster.ledger_dir, run=result.history.run)} == {
        "$.chord.header[0]", "$.chord.header[1]", "$.chord.body", "$.chord.body.link"}


def test_close_stops_everything_even_when_the_body_raises(tmp_path: Path) -> None:
    before = descendants()
    with pytest.raises(RuntimeError, match="boom"), \
            Cluster(nodes=1, run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        pids = _tree(c)
        assert len(pids) == 2 + 1 + 2  # broker, backend, worker main and its pool of two
        raise RuntimeError("boom")
    assert all(gone(pid) for pid in pids)
    assert descendants() - before == set()
    assert Registry(tmp_path / "state").records() == []


def test_close_leaves_no_result_subscription_for_a_late_free_to_cancel(tmp_path: Path) -> None:
    """A result freed after its cluster closed cancels its subscription; Celery does that over
    the network only for keys still subscribed, and with the server gone it retried and printed
    "Retry limit exceeded" at interpreter exit (seen in ``make bench``). Close drops them."""
    with Cluster(nodes=1, run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        sig = c.app.signature("cc.tag", args=("a",), kwargs={"cc": {"run": "r", "node": "$"}})
        result = sig.apply_async(queue="no-worker-consumes-this")  # never resolves
        with pytest.raises(CeleryTimeout):
            result.get(timeout=0.3)
        consumer = c.app.backend.result_consumer
        assert consumer.subscribed_to  # what a late free would cancel
    assert consumer.subscribed_to == set()
    result.backend.remove_pending_result(result)  # what __del__ does: no server, no error


def test_a_failed_start_stops_what_started_and_says_so_in_one_line(tmp_path: Path) -> None:
    before = descendants()
    with pytest.raises(HarnessError) as info:
        Cluster(nodes=1, run_dir=tmp_path / "run", state_dir=tmp_path / "state", ready_timeout=0).start()
    assert str(info.value).startswith("celery worker(s) w0@127.0.0.1 did not answer a ping within 0 s")
    assert "\n" not in str(info.value)
    assert descendants() - before == set()
    assert Registry(tmp_path / "state").records() == []


HARNESS = """
import sys, time
from pathlib import Path
import psutil
from chord_chaos.harness.cluster.local import Cluster
c = Cluster(nodes=1, run_dir=Path(sys.argv[1]) / "run", state_dir=Path(sys.argv[1]) / "state").start()
print(*(p.pid for p in psutil.Process().children(recursive=True)), flush=True)
time.sleep(60)
"""


def test_a_sigkilled_harness_takes_its_whole_cluster_down(tmp_path: Path) -> None:
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path)], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        assert harness.stdout is not None
        pids = [int(p) for p in harness.stdout.readline().split()]
        assert len(pids) == 2 + 1 + 2, pids  # broker, backend, worker main and its pool of two
        harness.kill()
        harness.wait(timeout=10)
        assert all(gone(pid) for pid in pids), "PDEATHSIG left part of the cluster running"
    finally:
        harness.kill()
        harness.wait(timeout=10)
        reap_stale(tmp_path / "state")
    assert Registry(tmp_path / "state").records() == []


def test_a_dead_worker_makes_the_verdict_unknown(tmp_path: Path) -> None:
    with Cluster(run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        c.workers[1].kill()
        assert c.workers[1].proc is not None and c.workers[1].proc.wait_exit(10)
        [result] = BatchRunner(c, tmp_path / "out", timeout=10).run([Job("chord", parse_workload(CHORD))])
        assert result.verdict.verdict == "unknown"
        assert "worker w1@127.0.0.1 is not running" in result.verdict.reasons


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"backend": "mongo"}, "unknown backend 'mongo'; use one of redis, database"),
    ({"nodes": 0}, "nodes must be an integer of at least 1, got 0"),
    ({"concurrency": 0}, "concurrency must be an integer of at least 1, got 0"),
    ({"database_url": "sqlite://"}, "database_url applies only to backend 'database', not 'redis'"),
    ({"backend": "database", "database_url": "not a url"},
     "database_url 'not a url' is not a SQLAlchemy URL"),
])
def test_bad_arguments_are_one_line_errors_before_anything_starts(
        kwargs: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as info:
        Cluster(state_dir=tmp_path / "state", **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert not (tmp_path / "state").exists()


def test_any_sqlalchemy_url_gets_celerys_db_prefix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    for given in (url, f"db+{url}"):
        cluster = Cluster(backend="database", database_url=given, state_dir=tmp_path / "state")
        assert cluster.database_url == f"db+{url}"


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
    assert Registry(tmp_path / ".cc-runs").records() == []  # the CLI's cluster stopped everything
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
