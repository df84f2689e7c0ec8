"""Which compressed timeouts a run's work outlived: its longest execution or chord header span."""

from __future__ import annotations

from chord_chaos.check.outlived import longest, outlived
from tests.helpers import event

S = 1_000_000_000


def test_a_fast_run_outlives_nothing() -> None:
    events = (event("start", "$.chord.header[0]", 0), event("end", "$.chord.header[0]", S // 100))
    assert outlived(events) == () and longest(events) == 0.01


def test_a_slow_header_task_outlives_the_poll_interval_only() -> None:
    events = (event("start", "$.chord.header[0]", 0), event("end", "$.chord.header[0]", 2 * S))
    assert outlived(events) == ("chord-unlock-poll",)


def test_a_header_span_counts_across_its_tasks_but_not_across_chords() -> None:
    one = (event("start", "$.chord.header[0]", 0, pid=1), event("end", "$.chord.header[0]", 10, pid=1),
           event("start", "$.chord.header[1]", 4 * S, pid=2),
           event("end", "$.chord.header[1]", 4 * S + 10, pid=2))
    assert longest(one) == 4 * S / 1e9 + 10 / 1e9 and "chord-join" in outlived(one)
    a, b = "$.group[0].chord.header[0]", "$.group[1].chord.header[0]"
    two = (event("start", a, 0), event("end", a, 10), event("start", b, 4 * S), event("end", b, 4 * S + 10))
    assert outlived(two) == ()
