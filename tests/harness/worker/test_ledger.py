"""The ledger: per-process files, torn lines skipped, incremental reads."""

from __future__ import annotations

from pathlib import Path

from chord_chaos.harness.run.ledger_reader import LedgerTail, read_events
from chord_chaos.harness.worker.ledger import record


def _event(node: str, kind: str = "start") -> dict[str, object]:
    return {"ev": kind, "run": "r1", "node": node, "args": [1], "kwargs": {}}


def test_records_are_read_back_in_order(tmp_path: Path) -> None:
    record(str(tmp_path), _event("$.a"))
    record(str(tmp_path), _event("$.a", "end"))
    events = read_events(tmp_path, "r1")
    assert [(e.node, e.kind) for e in events] == [("$.a", "start"), ("$.a", "end")]
    assert events[0].mono <= events[1].mono


def test_a_torn_last_line_is_skipped_and_read_once_complete(tmp_path: Path) -> None:
    record(str(tmp_path), _event("$.a"))
    path = next(tmp_path.glob("ledger-*.jsonl"))
    with path.open("a") as fh:
        fh.write('{"ev": "start", "run": "r1", "no')
    tail = LedgerTail(tmp_path)
    assert tail.poll() == 1
    assert len(read_events(tmp_path)) == 1
    with path.open("a") as fh:
        fh.write('de": "$.b", "pid": 1, "t": 0, "mono": 0}\n')
    assert tail.poll() == 1
    assert {e.node for e in tail.events("r1")} == {"$.a", "$.b"}


def test_other_runs_are_kept_apart(tmp_path: Path) -> None:
    record(str(tmp_path), _event("$.a"))
    record(str(tmp_path), {**_event("$.x"), "run": "r2"})
    tail = LedgerTail(tmp_path)
    tail.poll()
    assert [e.node for e in tail.events("r2")] == ["$.x"]
    tail.forget("r2")
    assert tail.events("r2") == ()
