"""Traffic through proxied links while a fault is on them: the harness's own counters.

Toxiproxy counts a connection's bytes only when the connection ends, so its metrics cannot say
whether a long-lived Redis connection carried anything during a fault. The kernel can: ``ss``
reads each socket's ``bytes_sent``/``bytes_received`` (tcp_info), so two snapshots of the
connections on a proxy's listening port, one when the fault is applied and one when it is
healed, tell whether traffic met the fault: bytes moved, or connections opened or closed
(a partition closes every connection on the link).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

SS_TIMEOUT = 5.0
_CONN = re.compile(r"^\S+\s+\S+\s+\S+:(\d+)\s+(\S+)\s*$")
_BYTES = re.compile(r"\bbytes_(?:sent|received):(\d+)")


def snapshot(ports: dict[str, int]) -> dict[tuple[str, str], int] | None:
    """{(link, peer address): bytes both ways} of every established connection on the links'
    listening ports; None where ``ss`` is missing or fails (traffic then goes unmeasured)."""
    if not ports or shutil.which("ss") is None:
        return None
    links = {port: name for name, port in ports.items()}
    selector = " or ".join(f"sport = :{p}" for p in links)
    try:
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( {selector} )"],
                             capture_output=True, text=True, timeout=SS_TIMEOUT, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse(out, links)


def parse(out: str, links: dict[int, str]) -> dict[tuple[str, str], int]:
    """``ss -tinH`` output: a line per connection, then its indented tcp_info line."""
    found: dict[tuple[str, str], int] = {}
    key: tuple[str, str] | None = None
    for line in out.splitlines():
        conn = _CONN.match(line)
        if conn and not line[:1].isspace():
            port = int(conn.group(1))
            key = (links[port], conn.group(2)) if port in links else None
            if key is not None:
                found[key] = 0
        elif key is not None:
            found[key] += sum(int(n) for n in _BYTES.findall(line))
    return found


class LinkTraffic:
    """Counts the traffic on some links from construction (the fault applied) to ``close()``."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.before = snapshot(ports)
        self.after: dict[tuple[str, str], int] | None = None

    def close(self) -> None:
        if self.before is not None and self.after is None:
            self.after = snapshot(self.ports)

    def record(self) -> dict[str, Any]:
        """{"measured", "connections" at apply, "bytes", "opened", "closed"} (None: unmeasured)."""
        if self.before is None or self.after is None:
            return {"measured": False, "connections": None if self.before is None else len(self.before)}
        moved = sum(max(0, n - self.before.get(k, 0)) for k, n in self.after.items())
        return {"measured": True, "connections": len(self.before), "bytes": moved,
                "opened": len(set(self.after) - set(self.before)),
                "closed": len(set(self.before) - set(self.after))}
