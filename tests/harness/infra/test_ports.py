"""Loopback ports: a free port can be bound, a held one is reported as in use."""

from __future__ import annotations

import socket

import pytest

from chord_chaos.harness.infra.ports import HOST, free_port, port_in_use


def test_a_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    assert 1024 <= port < 65536
    with socket.socket() as s:
        s.bind((HOST, port))


def test_a_listening_port_is_in_use_until_closed() -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_a_bound_but_not_listening_port_is_in_use() -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        assert port_in_use(holder.getsockname()[1])


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_an_impossible_port_is_rejected(port: int) -> None:
    with pytest.raises(ValueError, match=r"port must be in 1\.\.65535"):
        port_in_use(port)
