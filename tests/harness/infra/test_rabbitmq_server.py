"""A RabbitMQ node as the harness runs it: loopback only, everything in the run's directory,
its own epmd, durable data across a restart, and nothing left behind."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import amqp
import psutil
import pytest

from chord_chaos.harness.infra import rabbitmq_server
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.rabbitmq_server import RabbitMQServer, amqp_answers, purge
from chord_chaos.harness.infra.registry import reap_stale
from chord_chaos.harness.infra.supervisor import Supervisor
from tests.helpers import gone

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    """One node for the module: a cold start takes seconds."""
    tmp = tmp_path_factory.mktemp("rabbitmq")
    sup = Supervisor(tmp / "state", handle_signals=False)
    try:
        yield RabbitMQServer(sup, tmp, "t").start()
    finally:
        sup.stop_all()


def _channel(port: int) -> tuple[amqp.Connection, amqp.Channel]:
    conn = amqp.Connection(f"127.0.0.1:{port}", connect_timeout=2)
    conn.connect()
    return conn, conn.channel()


def test_it_answers_on_loopback_only_with_its_own_epmd_and_files(node: RabbitMQServer) -> None:
    assert node.port is not None and amqp_answers(node.port)
    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(node.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", node.port), ("127.0.0.1", node.dist_port)}
    assert node.epmd is not None and node.epmd.alive()  # ours, not a daemon of its own
    epmd = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(node.epmd.pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN}
    assert epmd <= {("127.0.0.1", node.epmd_port), ("::1", node.epmd_port)}  # loopback only
    assert (node.home / ".erlang.cookie").stat().st_mode & 0o777 == 0o400
    assert (node.home / "mnesia").is_dir() and node.url() == f"amqp://guest:guest@127.0.0.1:{node.port}//"


def test_a_restart_keeps_the_ports_and_the_durable_messages(node: RabbitMQServer) -> None:
    port, dist = node.port, node.dist_port
    assert port is not None
    conn, ch = _channel(port)
    ch.queue_declare("celery", durable=True, auto_delete=False)
    ch.confirm_select()  # each publish waits for the node's confirm: persistent means on disk
    ch.basic_publish(amqp.Message("kept", delivery_mode=2), routing_key="celery")
    ch.basic_publish(amqp.Message("kept"), routing_key="celery")  # transient: not kept
    conn.close()
    node.stop(grace=10.0)  # graceful: written to disk; then started as the nemesis restarts it
    node._fixed_port = True
    node.start()
    assert (node.port, node.dist_port) == (port, dist)
    conn, ch = _channel(port)
    got = ch.basic_get("celery", no_ack=True)
    assert got is not None and got.body in (b"kept", "kept") and ch.basic_get("celery") is None
    conn.collect()


def test_kill_drops_it_and_restart_brings_it_back(node: RabbitMQServer) -> None:
    port, pid = node.port or 0, node.pid
    node.kill()
    assert gone(pid) and not amqp_answers(port)
    node.restart()
    assert node.port == port and amqp_answers(port)


def test_purge_empties_the_task_queue(node: RabbitMQServer) -> None:
    conn, ch = _channel(node.port or 0)
    ch.queue_declare("celery", durable=True, auto_delete=False)
    ch.basic_publish(amqp.Message("x"), routing_key="celery")
    conn.collect()
    purge(node.port or 0)
    conn, ch = _channel(node.port or 0)
    assert ch.basic_get("celery") is None
    conn.collect()


def test_a_port_in_use_is_a_one_line_error(sup: Supervisor, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError) as info:
            RabbitMQServer(sup, tmp_path, "t", port=port).start()
    assert str(info.value) == f"port {port} in use on 127.0.0.1; pick another or stop what holds it"
    assert all(not p.alive() for p in sup.procs)  # its epmd is not left running either


def test_a_missing_rabbitmq_says_what_to_install(sup: Supervisor, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rabbitmq_server, "SERVER_SCRIPTS", str(tmp_path / "none-*"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessError) as info:
        RabbitMQServer(sup, tmp_path, "t").start()
    assert str(info.value) == ("rabbitmq-server not found: install it with 'apt-get install "
                               "rabbitmq-server' (or run 'make setup')")
    assert sup.procs == []


HARNESS = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from chord_chaos.harness.infra.supervisor import Supervisor
    from chord_chaos.harness.infra.rabbitmq_server import RabbitMQServer
    node = RabbitMQServer(Supervisor(Path(sys.argv[1])), Path(sys.argv[2]), "victim").start()
    print(json.dumps([node.pid, node.epmd.pid]), flush=True)
    time.sleep(60)
""")


def test_a_sigkilled_harness_leaves_no_node_and_no_epmd(tmp_path: Path) -> None:
    registry = tmp_path / "state"
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(registry), str(tmp_path)],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert harness.stdout is not None
        line = harness.stdout.readline()
        assert line, f"child harness failed to start RabbitMQ (exit {harness.wait(10)})"
        beam, epmd = json.loads(line)
        children = [p.pid for p in psutil.Process(beam).children(recursive=True)]
        harness.kill()
        assert harness.wait(timeout=10) == -signal.SIGKILL
        assert gone(beam, 10) and gone(epmd, 10), "PR_SET_PDEATHSIG did not take the node down"
        assert all(gone(pid, 10) for pid in children)  # erl_child_setup follows the VM
    finally:
        harness.kill()
        harness.wait(timeout=10)
        reap_stale(registry)
