"""redis-server as the harness runs it: loopback only, no persistence, faults, clear errors."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest
import redis

from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.redis_server import RedisServer, ping
from chord_chaos.harness.infra.supervisor import Supervisor
from tests.helpers import gone, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def server(sup: Supervisor, tmp_path: Path) -> RedisServer:
    return RedisServer(sup, tmp_path, "t").start()


def _client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url(), socket_timeout=2)


def test_it_answers_and_listens_on_loopback_only(server: RedisServer) -> None:
    assert _client(server).ping()
    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(server.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", server.port)}


def test_it_persists_nothing(server: RedisServer) -> None:
    config = redis.Redis.from_url(server.url(), decode_responses=True).config_get("*")
    assert (config["save"], config["appendonly"]) == ("", "no")


def test_restart_keeps_the_port_and_loses_the_data(server: RedisServer) -> None:
    _client(server).set("k", "v")
    port, pid = server.port, server.pid
    server.restart()
    assert (server.port, gone(pid)) == (port, True)
    assert server.pid != pid
    assert _client(server).get("k") is None


def test_kill_is_immediate_and_stop_is_graceful(server: RedisServer) -> None:
    assert server.proc is not None
    killed = server.proc
    server.kill()
    assert killed.returncode == -9 and not server.alive()
    assert server.port is not None and not ping(server.port, timeout=0.2)
    server.start()
    assert server.proc is not None
    stopped = server.proc
    server.stop()
    assert stopped.returncode == 0
    assert "ready to exit, bye bye" in server.log.read_text()


def test_pause_hangs_it_and_resume_brings_it_back(server: RedisServer) -> None:
    assert server.port is not None
    server.pause()  # SIGSTOP is delivered asynchronously: give the kernel a bounded moment
    assert wait_for(lambda: psutil.Process(server.pid).status() == psutil.STATUS_STOPPED, 2.0)
    assert not ping(server.port, timeout=0.2)
    server.resume()
    assert ping(server.port, timeout=2)


def test_a_paused_server_still_stops_gracefully(server: RedisServer) -> None:
    assert server.proc is not None
    proc = server.proc
    server.pause()
    server.stop(grace=5)
    assert proc.returncode == 0  # SIGCONT follows SIGTERM, so it did not need the SIGKILL


def test_a_port_in_use_is_a_one_line_error(sup: Supervisor, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError) as info:
            RedisServer(sup, tmp_path, "t", port=port).start()
    assert str(info.value) == f"port {port} in use on 127.0.0.1; pick another or stop what holds it"
    assert sup.procs == []


def test_a_fixed_free_port_is_used(sup: Supervisor, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = RedisServer(sup, tmp_path, "t", port=port).start()
    assert server.url(3) == f"redis://127.0.0.1:{port}/3"
    assert ping(port)


def test_not_ready_in_time_names_the_log_and_leaves_nothing(sup: Supervisor, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"not ready on 127\.0\.0\.1:\d+ after 0 s; see .*redis-t\.log"):
        RedisServer(sup, tmp_path, "t", ready_timeout=0.0).start()
    assert sup.procs == []


def test_a_missing_binary_says_what_to_install(sup: Supervisor, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessError, match=r"apt-get install redis-server.*make setup"):
        RedisServer(sup, tmp_path, "t").start()
