"""Loopback ports. Everything the harness starts binds to 127.0.0.1 only, never a public address."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1.

    It is free now, not reserved: whoever binds it next may lose a race and must retry.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    """Whether something holds 127.0.0.1:``port`` (a listener, or a bound socket).

    The probe binds with SO_REUSEADDR, as redis-server does, so connections left in TIME_WAIT by
    a server that just stopped on that port (a restart) do not count as in use.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False
