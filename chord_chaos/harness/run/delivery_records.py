"""The client's side of the delivery records: its own publishes while it submits, and an
incremental reader of the workers' ``deliveries/`` lines."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery import signals

from chord_chaos.check.events import Event
from chord_chaos.harness.run.ledger_reader import LedgerTail
from chord_chaos.harness.worker.deliveries import SUBDIR, published


@contextmanager
def client_publishes(run: str) -> Iterator[list[Event]]:
    """Collect the client's publishes of ``run`` while the block submits it."""
    found: list[Event] = []

    def on_publish(sender: Any = None, body: Any = None, headers: Any = None, **_: Any) -> None:
        record = published(sender, body, headers)
        if record is not None and record["run"] == run:
            found.append(Event.from_json({**record, "hostname": "client", "pid": os.getpid(),
                                          "t": time.time(), "mono": time.monotonic_ns()}))

    signals.after_task_publish.connect(on_publish, weak=False)
    try:
        yield found
    finally:
        signals.after_task_publish.disconnect(on_publish)


def read_deliveries(ledger_dir: Path) -> LedgerTail:
    """An incremental reader of the workers' delivery lines."""
    (ledger_dir / SUBDIR).mkdir(parents=True, exist_ok=True)
    return LedgerTail(ledger_dir / SUBDIR)
