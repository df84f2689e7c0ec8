"""toxiproxy-server as the harness runs it: each fault really hits a redis link, and heals.

Every test goes through a real proxy to a real redis-server. Clients are connected before a
toxic is added (toxics reach live connections) and never retry, so a fault shows as it is.
Timing checks are lower bounds the fault imposes plus generous "fast again" upper bounds.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chord_chaos.harness.infra import ports as ports_module
from chord_chaos.harness.infra import toxiproxy as toxiproxy_module
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.ports import HOST, free_port
from chord_chaos.harness.infra.redis_server import RedisServer
from chord_chaos.harness.infra.supervisor import Supervisor
from chord_chaos.harness.infra.toxiproxy import Link, ToxiproxyClient, ToxiproxyServer, toxiproxy_binary
from tests.helpers import REPO_ROOT, gone, wait_for

pytestmark = pytest.mark.cluster

FAST = 0.1  # a round trip on loopback without a toxic takes about a millisecond
MISSING = ("toxiproxy-server not found: run 'make setup' (it builds it with go install) "
           "or put toxiproxy-server on PATH")


@pytest.fixture
def toxi(sup: Supervisor, tmp_path: Path) -> ToxiproxyServer:
    return ToxiproxyServer(sup, tmp_path).start()


@pytest.fixture
def api(toxi: ToxiproxyServer) -> ToxiproxyClient:
    return toxi.client()


@pytest.fixture
def upstream(sup: Supervisor, tmp_path: Path) -> RedisServer:
    return RedisServer(sup, tmp_path, "up").start()


@pytest.fixture
def link(api: ToxiproxyClient, upstream: RedisServer) -> Link:
    assert upstream.port is not None
    return api.create_proxy("redis", upstream.port)


@pytest.fixture
def client(link: Link) -> Iterator[redis.Redis]:
    """Connected through the proxy before any toxic is added."""
    conn = _redis(link.url())
    assert conn.ping()
    yield conn
    conn.close()


def _redis(url: str, timeout: float = 2.0) -> redis.Redis:
    """No retries: redis-py's default retries would hide a fault or stretch it into seconds."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0))


def _timed(call: Callable[[], object]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def _close_delay(link: Link) -> float:
    """How long after sending QUIT the client sees the connection closed (EOF).

    Timed from the send, not from redis's answer: the close is held from when the proxy sees
    redis close, which a busy test process may read its answer after, so only a clock started
    before the QUIT bounds the delay from below. A plain socket: what is measured is a TCP
    close, and redis-py's Connection is untyped.
    """
    with socket.create_connection((HOST, link.listen_port), timeout=2.0) as sock:
        start = time.monotonic()
        sock.sendall(b"QUIT\r\n")
        assert sock.recv(64) == b"+OK\r\n"
        assert sock.recv(64) == b""
        return time.monotonic() - start


# The server process


def test_the_server_is_registered_listens_on_loopback_only_and_is_gone_after_stop(
        sup: Supervisor, toxi: ToxiproxyServer, api: ToxiproxyClient) -> None:
    pid = toxi.pid
    assert [(r.pid, r.role) for r in sup.registry.records()] == [(pid, "toxiproxy")]
    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", toxi.port)}
    assert api.version()  # "git" when built by go install, else the release number
    assert "Starting Toxiproxy HTTP server" in toxi.log.read_text()
    toxi.stop()
    assert gone(pid) and not toxi.alive()
    assert sup.procs == [] and sup.registry.records() == []
    with pytest.raises(HarnessError, match="toxiproxy-server is not running; start it first"):
        toxi.client()


def test_kill_drops_every_proxied_connection(toxi: ToxiproxyServer, client: redis.Redis) -> None:
    pid = toxi.pid
    toxi.kill()
    assert gone(pid)
    with pytest.raises(redis.ConnectionError):
        client.ping()


def test_a_fixed_port_in_use_is_a_one_line_error(sup: Supervisor, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError) as info:
            ToxiproxyServer(sup, tmp_path, port=port).start()
    assert str(info.value) == f"port {port} in use on 127.0.0.1; pick another or stop what holds it"
    assert sup.procs == []


def test_a_lost_port_race_is_retried_on_another_port(sup: Supervisor, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """toxiproxy 2.12 does not exit when its port is taken, and the holder may answer HTTP."""
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(ports_module, "free_port", lambda: next(ports, None) or free_port())
        monkeypatch.setattr(ports_module, "port_in_use", lambda port: False)
        server = ToxiproxyServer(sup, tmp_path).start()
    assert server.port != taken
    assert "address already in use" in server.log.read_text()
    assert [p.pid for p in sup.procs] == [server.pid]
    assert server.client().proxies() == {}


def test_not_ready_in_time_names_the_log_and_leaves_nothing(sup: Supervisor, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"not ready on 127\.0\.0\.1:\d+ after 0 s; see .*toxiproxy\.log"):
        ToxiproxyServer(sup, tmp_path, ready_timeout=0.0).start()
    assert sup.procs == []


def test_the_binary_is_the_repo_one_else_the_one_on_path(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = toxiproxy_module.REPO_BINARY
    assert toxiproxy_binary() == str(real) and real.parent.parent == REPO_ROOT
    monkeypatch.setattr(toxiproxy_module, "REPO_BINARY", tmp_path / "absent")
    (tmp_path / "toxiproxy-server").symlink_to(real)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert toxiproxy_binary() == str(tmp_path / "toxiproxy-server")


def test_a_missing_binary_says_what_to_do(sup: Supervisor, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toxiproxy_module, "REPO_BINARY", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessError) as info:
        ToxiproxyServer(sup, tmp_path).start()
    assert str(info.value) == MISSING
    assert sup.procs == []


# Proxies and API errors


def test_a_proxy_listens_on_a_port_the_server_chose_and_forwards(
        api: ToxiproxyClient, link: Link, upstream: RedisServer) -> None:
    assert link.listen_port not in (0, upstream.port)
    assert link.url(3) == f"redis://127.0.0.1:{link.listen_port}/3"
    proxy = api.proxies()["redis"]
    assert (proxy["listen"], proxy["upstream"], proxy["enabled"], proxy["toxics"]) == (
        f"127.0.0.1:{link.listen_port}", f"127.0.0.1:{upstream.port}", True, [])
    _redis(link.url()).set("k", "v")
    assert _redis(upstream.url()).get("k") == b"v"


def test_api_errors_are_one_line_and_name_the_operation_and_proxy(api: ToxiproxyClient, link: Link) -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: api.create_proxy("redis", link.upstream_port),
         "toxiproxy create_proxy on proxy 'redis' failed: ProxyExists: This proxy already exists."),
        (lambda: api.add_toxic("redis", "bad", "bogus", {}),
         "toxiproxy add_toxic 'bad' (bogus) on proxy 'redis' failed: HTTP 400: invalid toxic type"),
        (lambda: api.add_toxic("nope", "lat", "latency", {"latency": 1}),
         "toxiproxy add_toxic 'lat' (latency) on proxy 'nope' failed: HTTP 404: proxy not found"),
        (lambda: api.update_toxic("redis", "gone", {"latency": 1}),
         "toxiproxy update_toxic 'gone' on proxy 'redis' failed: HTTP 404: toxic not found"),
        (lambda: api.remove_toxic("nope", "gone"),
         "toxiproxy remove_toxic 'gone' on proxy 'nope' failed: HTTP 404: proxy not found"),
        (lambda: api.disable("nope"), "toxiproxy disable on proxy 'nope' failed: HTTP 404: proxy not found"),
    ]
    for call, message in cases:
        with pytest.raises(HarnessError) as info:
            call()
        assert str(info.value) == message


def test_remove_toxic_is_idempotent(api: ToxiproxyClient, link: Link) -> None:
    api.add_toxic("redis", "lat", "latency", {"latency": 1})
    api.remove_toxic("redis", "lat")
    api.remove_toxic("redis", "lat")
    api.remove_toxic("redis", "never-added")
    assert api.toxics("redis") == []


def test_a_dead_server_is_a_quick_one_line_error(api: ToxiproxyClient) -> None:
    dead = ToxiproxyClient(HOST, free_port(), timeout=0.5)
    start = time.monotonic()
    with pytest.raises(HarnessError) as info:
        dead.disable("redis")
    assert time.monotonic() - start < 0.5  # refused at once: no waiting for the timeout
    assert str(info.value) == (f"toxiproxy disable on proxy 'redis' failed: cannot connect to "
                               f"127.0.0.1:{dead.port}; is toxiproxy-server running? "
                               "(ToxiproxyServer.start)")
    assert api.proxies() == {}  # a client used after another one talks to its own server again


def test_a_hung_server_fails_within_the_timeout_and_may_apply_the_request_later(
        toxi: ToxiproxyServer, api: ToxiproxyClient, link: Link) -> None:
    assert toxi.proc is not None
    hurried = toxi.client(timeout=0.3)
    toxi.proc.send_signal(signal.SIGSTOP)
    try:
        steps: list[tuple[Callable[[], object], str]] = [
            (lambda: hurried.add_toxic("redis", "late", "latency", {"latency": 1}),
             "add_toxic 'late' (latency)"),  # through toxiproxy-python
            (lambda: hurried.update_toxic("redis", "late", {"latency": 2}), "update_toxic 'late'"),  # raw
        ]
        for call, operation in steps:
            start = time.monotonic()
            with pytest.raises(HarnessError) as info:
                call()
            assert 0.3 <= time.monotonic() - start < 1.0
            assert str(info.value) == (
                f"toxiproxy {operation} on proxy 'redis' failed: no answer from 127.0.0.1:{toxi.port} "
                "within 0.3 s (it may still apply the request); is toxiproxy-server hung or paused?")
    finally:
        toxi.proc.send_signal(signal.SIGCONT)
    assert wait_for(lambda: [t["name"] for t in api.toxics("redis")] == ["late"], timeout=2)


# Faults: each takes effect, and heals


def test_latency_delays_every_reply_and_heals_on_removal(api: ToxiproxyClient, client: redis.Redis) -> None:
    api.add_toxic("redis", "lat", "latency", {"latency": 200})
    assert _timed(client.ping) >= 0.2
    assert _timed(lambda: api.remove_toxic("redis", "lat")) < FAST
    assert _timed(client.ping) < FAST
    assert api.toxics("redis") == []


def test_latency_jitter_spreads_the_delay(api: ToxiproxyClient, client: redis.Redis) -> None:
    api.add_toxic("redis", "lat", "latency", {"latency": 100, "jitter": 50})
    delays = [_timed(client.ping) for _ in range(8)]
    assert all(0.05 <= d < 0.3 for d in delays), delays  # latency +- jitter, plus overhead
    assert max(delays) - min(delays) > 0.01, delays  # 8 draws within 10 ms: p < 1e-6
    api.remove_toxic("redis", "lat")
    assert _timed(client.ping) < FAST


def test_bandwidth_slows_large_values_in_the_chosen_direction(
        api: ToxiproxyClient, client: redis.Redis) -> None:
    value = os.urandom(200_000)
    client.set("big", value)
    assert _timed(lambda: client.get("big")) < FAST
    api.add_toxic("redis", "bw", "bandwidth", {"rate": 1000})  # KB/s: 200 KB take 0.2 s
    assert _timed(lambda: client.get("big")) >= 0.15
    assert _timed(lambda: client.set("big", value)) < FAST  # requests go upstream: not slowed
    api.remove_toxic("redis", "bw")
    api.add_toxic("redis", "bw-up", "bandwidth", {"rate": 1000}, stream="upstream")
    assert _timed(lambda: client.set("big", value)) >= 0.15
    assert client.get("big") == value
    api.remove_toxic("redis", "bw-up")
    assert _timed(lambda: client.set("big", value)) < FAST
    assert _timed(lambda: client.get("big")) < FAST


def test_slow_close_delays_the_close(api: ToxiproxyClient, link: Link) -> None:
    assert _close_delay(link) < FAST
    api.add_toxic("redis", "sc", "slow_close", {"delay": 300})
    assert _close_delay(link) >= 0.3
    api.remove_toxic("redis", "sc")
    assert _close_delay(link) < FAST


def test_a_timeout_toxic_is_a_black_hole_until_removed(api: ToxiproxyClient, link: Link) -> None:
    short = _redis(link.url(), timeout=0.3)
    assert short.ping()
    api.add_toxic("redis", "hole", "timeout", {"timeout": 0})
    start = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        short.ping()  # the request is swallowed, the connection stays open: only our timeout ends it
    assert 0.3 <= time.monotonic() - start < 1.0
    with pytest.raises(redis.TimeoutError):
        _redis(link.url(), timeout=0.3).ping()  # a new connection is accepted, then swallowed too
    api.remove_toxic("redis", "hole")
    assert short.ping()


def test_a_timeout_toxic_with_a_timeout_closes_the_connection(api: ToxiproxyClient,
                                                               client: redis.Redis) -> None:
    api.add_toxic("redis", "hole", "timeout", {"timeout": 100})
    start = time.monotonic()
    with pytest.raises(redis.ConnectionError, match="Connection closed by server"):
        client.ping()
    assert 0.1 <= time.monotonic() - start < 1.0
    api.remove_toxic("redis", "hole")
    assert client.ping()


def test_removing_a_timeout_toxic_closes_the_connections_it_held(api: ToxiproxyClient,
                                                                 client: redis.Redis) -> None:
    """Toxiproxy 2.12: they do not resume (the toxic's Cleanup closes them)."""
    api.add_toxic("redis", "hole", "timeout", {"timeout": 0})
    outcome: list[BaseException | bool] = []
    sending = threading.Event()

    def held() -> None:
        sending.set()
        try:
            outcome.append(client.ping())
        except redis.RedisError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=held)
    thread.start()
    assert sending.wait(2)
    time.sleep(0.05)  # the PING is on the wire, swallowed
    start = time.monotonic()
    api.remove_toxic("redis", "hole")
    thread.join(2)
    assert time.monotonic() - start < 0.5
    assert len(outcome) == 1 and isinstance(outcome[0], redis.ConnectionError), outcome
    assert "Connection closed by server" in str(outcome[0])
    assert client.ping()


def test_reset_peer_resets_new_connections_and_closes_live_ones(api: ToxiproxyClient, link: Link,
                                                                client: redis.Redis) -> None:
    api.add_toxic("redis", "rst", "reset_peer", {"timeout": 0})
    with pytest.raises(redis.ConnectionError, match="Connection closed by server"):
        client.ping()  # open before the toxic: 2.12 closes it (FIN), no RST
    with pytest.raises(redis.ConnectionError, match="Connection reset by peer"):
        _redis(link.url()).ping()  # opened after: a real RST
    api.remove_toxic("redis", "rst")
    assert client.ping()


def test_limit_data_closes_the_connection_after_so_many_bytes(api: ToxiproxyClient,
                                                              client: redis.Redis) -> None:
    value = b"x" * 1000
    client.set("big", value)
    api.add_toxic("redis", "cut", "limit_data", {"bytes": 100})
    assert client.ping()  # "+PONG\r\n" is 7 bytes, within the limit
    with pytest.raises(redis.ConnectionError, match="Connection closed by server"):
        client.get("big")
    with pytest.raises(redis.ConnectionError, match="Connection closed by server"):
        client.get("big")  # counted per connection: a new one is cut again
    api.remove_toxic("redis", "cut")
    assert client.get("big") == value


def test_slicer_delivers_correct_data_in_delayed_slices(api: ToxiproxyClient, client: redis.Redis) -> None:
    value = os.urandom(10_000)
    client.set("v", value)
    api.add_toxic("redis", "slices", "slicer", {"average_size": 100, "size_variation": 50, "delay": 1000})
    api.add_toxic("redis", "slices-up", "slicer", {"average_size": 100, "size_variation": 50, "delay": 1000},
                  stream="upstream")
    assert _timed(lambda: client.get("v")) >= 0.05  # >= 66 slices of <= 150 bytes, 1 ms apart
    assert client.get("v") == value
    client.set("w", value[::-1])
    pipe = client.pipeline(transaction=False)
    for key in ("v", "w", "v"):
        pipe.get(key)
    assert pipe.execute() == [value, value[::-1], value]
    api.remove_toxic("redis", "slices")
    api.remove_toxic("redis", "slices-up")
    assert _timed(lambda: client.get("v")) < FAST


def test_disable_refuses_connections_until_enable(api: ToxiproxyClient, link: Link,
                                                  client: redis.Redis) -> None:
    api.disable("redis")
    assert api.proxies()["redis"]["enabled"] is False
    with pytest.raises(redis.ConnectionError):
        client.ping()  # the live connection was closed
    with pytest.raises(redis.ConnectionError, match="Connection refused"):
        _redis(link.url()).ping()
    api.enable("redis")
    assert client.ping()
    assert api.proxies()["redis"]["listen"] == f"127.0.0.1:{link.listen_port}"  # the same port


def test_update_toxic_changes_the_latency_of_live_connections(api: ToxiproxyClient,
                                                              client: redis.Redis) -> None:
    api.add_toxic("redis", "lat", "latency", {"latency": 50})
    assert 0.05 <= _timed(client.ping) < 0.3
    api.update_toxic("redis", "lat", {"latency": 300})
    assert _timed(client.ping) >= 0.3
    assert api.toxics("redis") == [{"name": "lat", "type": "latency", "stream": "downstream",
                                    "toxicity": 1, "attributes": {"latency": 300, "jitter": 0}}]
    api.update_toxic("redis", "lat", {"latency": 0})
    assert _timed(client.ping) < FAST


def test_reset_heals_every_proxy_at_once(api: ToxiproxyClient, link: Link, upstream: RedisServer,
                                        client: redis.Redis) -> None:
    assert upstream.port is not None
    other = api.create_proxy("other", upstream.port)
    api.add_toxic("redis", "lat", "latency", {"latency": 300})
    api.add_toxic("redis", "cut", "limit_data", {"bytes": 1}, stream="upstream")
    api.add_toxic("other", "hole", "timeout", {"timeout": 0})
    api.disable("other")
    api.reset()
    proxies = api.proxies()
    assert {name: (p["enabled"], p["toxics"]) for name, p in proxies.items()} == {
        "redis": (True, []), "other": (True, [])}
    assert _timed(_redis(link.url()).ping) < FAST
    assert _timed(_redis(other.url()).ping) < FAST
