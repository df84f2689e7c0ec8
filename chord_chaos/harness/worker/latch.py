"""Latches, inside every worker: hold a task at its start until the nemesis has acted on it.

A fault anchored at "the n-th start of a header task" used to be applied when the nemesis next
read that start in the ledger, by which time a millisecond task had long ended: the kill hit an
idle process. A latch makes the fault land by construction. Before submitting, the harness
writes the run's latches (``control/<run>/latches.json`` under the ledger directory: fault
index, role, count). Each task of that run, after its ledger ``start``, claims an ordinal among
the starts of its role (an ``O_EXCL`` file per ordinal, atomic across processes); the start
whose ordinal is a latch's count writes ``held-<fault>.json`` (pid, node, task id) and waits
until the nemesis writes ``release-<fault>``, which it does once the fault is applied. The
wait is bounded (``MAX_HOLD``, below the chaos visibility timeout, so a hold never causes a
redelivery by itself). The control path is files on the ledger's own disk: no broker, no
backend, nothing a fault reaches.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from chord_chaos.harness.worker import ledger
from chord_chaos.models.faults import node_role

CONTROL = "control"  # under the ledger directory
LATCHES = "latches.json"
MAX_HOLD = 5.0
MAX_ORDINAL = 1000
POLL = 0.005


def run_dir(ledger_dir: str, run: str) -> str:
    return os.path.join(ledger_dir, CONTROL, run)


def held_path(directory: str, fault: int) -> str:
    return os.path.join(directory, f"held-{fault}.json")


def release_path(directory: str, fault: int) -> str:
    return os.path.join(directory, f"release-{fault}")


def hold(base: dict[str, Any]) -> None:
    """Hold this execution if it is a latch's anchor; ``base`` is its ledger record."""
    directory = run_dir(ledger.worker_dir(), base["run"])
    try:
        with open(os.path.join(directory, LATCHES), encoding="utf-8") as fh:
            latches = json.load(fh)
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return
    role = node_role(base["node"])
    ordinals: dict[str, int] = {}
    mine: list[int] = []
    for latch in latches:
        counter = latch["role"]
        if counter not in ("any", role):
            continue
        if counter not in ordinals:
            ordinals[counter] = _claim(directory, counter)
        if ordinals[counter] == latch["count"]:
            mine.append(int(latch["fault"]))
    for fault in mine:
        _write(held_path(directory, fault), {**base, "pid": os.getpid(), "t": time.time(),
                                             "mono": time.monotonic_ns()})
    deadline = time.monotonic() + MAX_HOLD
    while mine and time.monotonic() < deadline:
        mine = [f for f in mine if not os.path.exists(release_path(directory, f))]
        if mine:
            time.sleep(POLL)


def _claim(directory: str, counter: str) -> int:
    """This start's ordinal among the run's starts counted by ``counter`` (1, 2, ...)."""
    for n in range(1, MAX_ORDINAL + 1):
        try:
            os.close(os.open(os.path.join(directory, f"start-{counter}-{n}"),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return n
        except FileExistsError:
            continue
    return MAX_ORDINAL + 1


def _write(path: str, obj: dict[str, Any]) -> None:
    """Whole or not at all: the nemesis never reads a half-written record."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, default=repr)
    os.replace(tmp, path)
