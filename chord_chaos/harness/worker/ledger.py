"""The ledger writer, inside every worker process: an out-of-band record that faults cannot reach.

Each process appends JSON lines to its own file in the ledger directory with single
``os.write`` calls on an ``O_APPEND`` descriptor: no broker, no result backend, no
buffering in the process (a SIGKILLed worker loses nothing it wrote). Two kinds of line:
``start`` and ``end`` of every execution attempt (``app.py``), and, under ``deliveries/``,
``publish`` and ``receive`` of every task message (``deliveries.py``). The harness reads them
back with ``harness/run/ledger_reader.py``; their shape is ``check/events.py``'s ``Event``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

_fds: dict[str, int] = {}


def worker_dir() -> str:
    """The ledger directory of a worker process (the harness sets CC_LEDGER_DIR)."""
    return os.environ.get("CC_LEDGER_DIR", "/tmp/chord-chaos-ledger")


def record(ledger_dir: str, event: dict[str, Any]) -> None:
    """Append one event (stamped with pid and both clocks) to this process's ledger file."""
    event = {**event, "pid": os.getpid(), "t": time.time(), "mono": time.monotonic_ns()}
    line = (json.dumps(event, default=repr, separators=(",", ":")) + "\n").encode()
    key = f"{ledger_dir}:{os.getpid()}"  # a forked child must not reuse its parent's fd
    fd = _fds.get(key)
    if fd is None:
        Path(ledger_dir).mkdir(parents=True, exist_ok=True)
        path = os.path.join(ledger_dir, f"ledger-{os.getpid()}.jsonl")
        fd = _fds[key] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line)
