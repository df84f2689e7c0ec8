"""The harness's own traffic counters: ss's per-socket bytes on a proxy's listening port."""

from __future__ import annotations

import socket

from chord_chaos.harness.infra.link_traffic import LinkTraffic, parse, snapshot

SS = """0      0      127.0.0.1:40001 127.0.0.1:50000
\t cubic wscale:7,7 rto:204 bytes_sent:10 bytes_acked:10 bytes_received:1000 segs_out:2
0      0      127.0.0.1:40002 127.0.0.1:50001
\t cubic bytes_sent:5 bytes_received:7
0      0      127.0.0.1:49999 127.0.0.1:50002
\t cubic bytes_sent:99 bytes_received:99
"""


def test_parse_sums_both_directions_per_connection_of_known_ports_only() -> None:
    found = parse(SS, {40001: "w0.broker", 40002: "w0.backend"})
    assert found == {("w0.broker", "127.0.0.1:50000"): 1010, ("w0.backend", "127.0.0.1:50001"): 12}


def test_traffic_on_a_real_loopback_connection_is_counted() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    try:
        assert snapshot({"link": port}) == {("link", f"127.0.0.1:{client.getsockname()[1]}"): 0}
        quiet = LinkTraffic({"link": port})
        quiet.close()
        assert quiet.record() == {"measured": True, "connections": 1, "bytes": 0, "opened": 0, "closed": 0}
        busy = LinkTraffic({"link": port})
        client.sendall(b"x" * 100)
        conn.recv(200)
        busy.close()
        assert busy.record()["bytes"] == 100
    finally:
        client.close()
        conn.close()
        server.close()


def test_no_counters_means_unmeasured() -> None:
    traffic = LinkTraffic({})
    traffic.close()
    assert traffic.record() == {"measured": False, "connections": None}
