"""redis-server as the harness runs it: loopback only, no persistence, clear errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from chord_chaos.harness.errors import HarnessError
from chord_chaos.harness.procs import Supervisor
from chord_chaos.harness.redis_server import RedisServer

pytestmark = pytest.mark.cluster


@pytest.fixture
def sup(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(tmp_path / "state")
    yield supervisor
    supervisor.stop_all()


def test_starts_answers_and_binds_loopback_only(sup: Supervisor, tmp_path: Path) -> None:
    server = RedisServer(sup, tmp_path, "t").start()
    assert redis.Redis.from_url(server.url()).ping()
    assert server.proc is not None
    addrs = {c.laddr.ip for c in psutil.Process(server.proc.pid).net_connections("inet")
             if c.status == psutil.CONN_LISTEN}
    assert addrs == {"127.0.0.1"}


def test_restart_keeps_the_port_and_loses_the_data(sup: Supervisor, tmp_path: Path) -> None:
    server = RedisServer(sup, tmp_path, "t").start()
    client = redis.Redis.from_url(server.url())
    client.set("k", "v")
    port = server.port
    server.restart()
    assert server.port == port
    assert redis.Redis.from_url(server.url()).get("k") is None


def test_a_port_in_use_is_a_one_line_error(sup: Supervisor, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError, match=f"port {port} in use on 127.0.0.1"):
            RedisServer(sup, tmp_path, "t", port=port).start()


def test_a_missing_binary_says_what_to_install(sup: Supervisor, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessError, match="make setup"):
        RedisServer(sup, tmp_path, "t").start()
