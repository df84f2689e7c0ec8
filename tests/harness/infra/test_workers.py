"""Real celery worker nodes: ready means a ping answers; kill, stop and restart do what they say."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from celery import Celery

from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.redis_server import RedisServer
from chord_chaos.harness.infra.supervisor import Supervisor
from chord_chaos.harness.infra.workers import WorkerNode
from chord_chaos.harness.worker.app import make_app
from tests.helpers import gone

pytestmark = pytest.mark.cluster


@dataclass
class Env:
    sup: Supervisor
    app: Celery
    env: dict[str, str]
    workdir: Path

    def node(self, name: str, concurrency: int = 2, env: dict[str, str] | None = None) -> WorkerNode:
        return WorkerNode(self.sup, name, env or self.env, concurrency, self.workdir)


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One broker and one result backend for the module; each test starts its own nodes."""
    workdir = tmp_path_factory.mktemp("workers")
    sup = Supervisor(workdir / "state")
    try:
        broker = RedisServer(sup, workdir, "broker").start()
        backend = RedisServer(sup, workdir, "backend").start()
        env = {"CC_BROKER_URL": broker.url(), "CC_BACKEND_URL": backend.url(),
               "CC_LEDGER_DIR": str(workdir / "ledger")}
        app = make_app(broker.url(), backend.url())
        yield Env(sup, app, env, workdir)
        app.close()
    finally:
        sup.stop_all()


def _answers(infra: Env, node: WorkerNode) -> bool:
    replies: list[dict[str, object]] = infra.app.control.ping(destination=[node.hostname], timeout=2,
                                                              limit=1)
    return replies == [{node.hostname: {"ok": "pong"}}]


def test_a_ready_node_answers_and_has_its_pool(infra: Env) -> None:
    node = infra.node("ready", concurrency=2).start()
    try:
        with pytest.raises(HarnessError, match=r"ready@127\.0\.0\.1 did not answer a ping within 0 s; "
                                               r"see .*worker-ready\.log"):
            node.wait_ready(infra.app, timeout=0)
        node.wait_ready(infra.app)
        assert _answers(infra, node)
        pool = node.pool_pids()
        assert len(pool) == 2
        assert {psutil.Process(p).ppid() for p in pool} == {node.pid}
        assert {psutil.Process(p).environ()["CC_NODE_NAME"] for p in pool} == {"ready@127.0.0.1"}
    finally:
        node.stop()


def test_sigkill_of_the_main_process_takes_the_pool_and_restart_recovers(infra: Env) -> None:
    node = infra.node("crash").start().wait_ready(infra.app)
    try:
        main, pool = node.pid, node.pool_pids()
        node.kill(signal.SIGKILL)
        assert gone(main)
        assert all(gone(p) for p in pool), "pool children outlived their main process"
        assert not node.alive()
        node.restart(infra.app)
        assert node.pid != main and _answers(infra, node)
    finally:
        node.stop()


def test_stop_is_a_warm_shutdown(infra: Env) -> None:
    node = infra.node("warm").start().wait_ready(infra.app)
    pool = node.pool_pids()
    assert node.stop(grace=10) == 0  # exited by itself, not killed at the end of the grace
    assert all(gone(p) for p in pool)
    assert "Warm shutdown" in node.log.read_text()
    assert node.stop() is None  # stopping twice is harmless


def test_a_node_that_dies_at_start_is_a_one_line_error_naming_its_log(infra: Env) -> None:
    node = infra.node("broken", env={**infra.env, "CC_BROKER_URL": "nope://127.0.0.1"}).start()
    with pytest.raises(HarnessError) as info:
        node.wait_ready(infra.app)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("celery worker broken@127.0.0.1 exited at start (exit status 1); see ")
    assert str(node.log) in message and "No such transport: nope" in message
    node.stop()
