"""Latches across the control path: the n-th start of a role is held until released, bounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from chord_chaos.harness.run.latches import Latches, latched
from chord_chaos.harness.worker import latch
from chord_chaos.models.faults import parse_plan
from tests.helpers import wait_for

PLAN = parse_plan({"faults": [
    {"kind": "kill_child", "target": "@anchor", "at": 0.1,
     "anchor": {"event": "start", "role": "header", "count": 2}},
    {"kind": "kill_worker", "target": "w0", "at": 0.5},
    {"kind": "latency", "target": "w0.broker", "anchor": {"event": "end", "role": "any", "count": 1}}]})


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CC_LEDGER_DIR", str(tmp_path))
    return tmp_path


def _base(node: str) -> dict[str, str]:
    return {"run": "r1", "node": node, "op": "tag", "task_id": f"id-{node}", "hostname": "w0@127.0.0.1"}


def test_only_start_anchors_are_latched() -> None:
    assert latched(PLAN) == [0]


def test_the_nth_start_of_the_role_is_held_until_released(ledger: Path) -> None:
    latches = Latches(ledger, "r1", PLAN)
    t = time.monotonic()
    latch.hold(_base("$.chord.body"))  # not a header: not counted
    latch.hold(_base("$.chord.header[0]"))  # the first header start: not the latch's
    assert time.monotonic() - t < 1.0 and latches.held(0) is None
    done = threading.Event()
    def second_header() -> None:
        latch.hold(_base("$.chord.header[1]"))
        done.set()

    worker = threading.Thread(target=second_header)
    worker.start()
    assert wait_for(lambda: latches.held(0) is not None)
    held = latches.held(0)
    assert held is not None and held.node == "$.chord.header[1]" and held.task_id == "id-$.chord.header[1]"
    assert not done.wait(0.2)  # still held
    latches.release(0)
    assert done.wait(2.0)
    worker.join()
    latches.clear()
    assert not latches.dir.exists()


def test_a_hold_is_bounded(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latch, "MAX_HOLD", 0.2)
    Latches(ledger, "r1", PLAN)
    latch.hold(_base("$.chord.header[0]"))
    t = time.monotonic()
    latch.hold(_base("$.chord.header[1]"))
    assert 0.2 <= time.monotonic() - t < 2.0


def test_a_run_without_latches_holds_nothing(ledger: Path) -> None:
    Latches(ledger, "r1", parse_plan({"faults": []}))
    t = time.monotonic()
    for i in range(5):
        latch.hold(_base(f"$.chord.header[{i}]"))
    assert time.monotonic() - t < 0.5 and not (ledger / "control").exists()
