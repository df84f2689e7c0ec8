"""Which of the compressed timeouts (``models/timeouts.py``) a run's work outlived: an execution
that ran longer, or a chord whose header spanned longer (its first header start to its last
header end). Coverage counts these, so a campaign says whether slow work was ever drawn."""

from __future__ import annotations

from chord_chaos.check.events import Event, execution_key
from chord_chaos.models.timeouts import TIMEOUTS

_HEADER = ".chord.header["


def longest(events: tuple[Event, ...]) -> float:
    """Seconds: the longest execution, or the longest chord header span, whichever is longer."""
    starts = {execution_key(e): e.mono for e in events if e.kind == "start"}
    spans = [e.mono - starts[k] for e in events if e.kind == "end" and (k := execution_key(e)) in starts]
    headers: dict[str, list[int]] = {}
    for e in events:
        if e.kind in ("start", "end") and _HEADER in e.node:
            headers.setdefault(e.node[:e.node.rfind(_HEADER)], []).append(e.mono)
    spans += [max(t) - min(t) for t in headers.values()]
    return max(spans, default=0) / 1e9


def outlived(events: tuple[Event, ...]) -> tuple[str, ...]:
    span = longest(events)
    return tuple(t.name for t in TIMEOUTS if span > t.seconds)
