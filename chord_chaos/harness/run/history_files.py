"""Histories on disk: each one is written before any check runs (Jepsen's ``run!``), so a
crashing checker never loses a run and ``chord-chaos analyze`` can re-check it later."""

from __future__ import annotations

import json
from pathlib import Path

from chord_chaos.check.history import History
from chord_chaos.harness.infra.files import write_atomic


def save_history(history: History, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"history-{history.run}.json"
    write_atomic(path, json.dumps(history.to_json(), default=repr))
    return path
