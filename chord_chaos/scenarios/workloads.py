"""Workload strategies for scenarios: the seed patterns, and slow chords for process faults.

``slow_chords`` uses ``sleep`` tasks in headers and bodies, nested the ways users nest them:
alone, after a chain step, inside a group. Most sleep 0.2-0.6 s; about one header task in six
is slow work (1.2 or 2.0 s) that outlives the compressed chord timeouts (``models/timeouts.py``)
while its siblings end at once, so the chord stays open across them.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

from chord_chaos.models.canvas import Canvas, Chain, Chord, Group, Task, Workload, parse_workload

SEEDS_DIR = Path(__file__).resolve().parents[2] / "canvases" / "seeds"


def seed_workload(name: str) -> Workload:
    """A seed canvas from canvases/seeds/ by file stem (e.g. ``map_reduce``)."""
    path = SEEDS_DIR / f"{name}.json"
    return parse_workload(json.loads(path.read_text(encoding="utf-8")))


@st.composite
def _slow_task(draw: st.DrawFn, label: str) -> Canvas:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return Task("tag", (label,), {}, True)
    if kind == 5:
        return Task("sleep", (draw(st.sampled_from((1.2, 2.0))), label), {}, True)
    return Task("sleep", (draw(st.integers(4, 12)) / 20, label), {}, True)


@st.composite
def slow_chords(draw: st.DrawFn) -> Workload:
    size = draw(st.integers(2, 4))
    header = tuple(draw(_slow_task(f"h{i}")) for i in range(size))
    body: Canvas = Task("tag", ("body",))
    if draw(st.booleans()):
        body = Chain((Task("tag", ("body",)), Task("sleep", (0.3, "after"), {}, True)))
    canvas: Canvas = Chord(header, body)
    shape = draw(st.sampled_from(("alone", "chained", "grouped")))
    if shape == "chained":
        canvas = Chain((Task("tag", ("first",)), canvas))
    elif shape == "grouped":
        canvas = Group((canvas, Task("tag", ("side",), {}, True)))
    return Workload(canvas)
