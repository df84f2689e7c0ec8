"""Hypothesis strategies for canvases.

``workloads()`` draws canvases of bounded size and depth covering every node kind: chains,
groups (nested), chords (nested in headers, bodies, chains and groups, with empty headers),
immutable signatures, apply-time partial args, failing tasks, retries, callbacks (``link``)
and errbacks (``link_error``: new-style ``log_error`` and old-style ``tag``).

Values make order and multiplicity observable: most tasks are ``tag(label)`` with a label
unique in the canvas, and ``tag`` returns all its arguments, so a lost, duplicated or
reordered input changes the final value. Every mutable op in the vocabulary drawn here takes
``*args``, so any canvas drawn is well-formed wherever its tasks sit.

Shrinking: ``st.recursive`` shrinks towards a single leaf, ``one_of`` towards its first
alternative (a plain mutable ``tag``), lists towards fewer members, booleans towards False
(no callbacks, mutable, no failures). Labels are assigned after drawing, in document order,
so a shrunk canvas reads ``t0, t1, ...`` whatever it shrank from.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from hypothesis import assume
from hypothesis import strategies as st

from chord_chaos.models.canvas import Canvas, CanvasError, Chain, Chord, Group, Task, Workload
from chord_chaos.models.semantics import check_workload

MAX_LEAVES = 10


@st.composite
def _leaf(draw: st.DrawFn) -> Canvas:
    """Mostly tags; a failure, a retry or a short sleep about one leaf in ten each."""
    kind = draw(st.integers(0, 9))
    if kind == 7:
        return Task("fail", (), {}, draw(st.booleans()))
    if kind == 8:
        return Task("retry", (draw(st.integers(1, 2)), None), {}, True)
    if kind == 9:
        return Task("sleep", (draw(st.integers(0, 30)) / 1000, None), {}, True)
    return Task("tag", (), {}, draw(st.booleans()))


def _extend(children: st.SearchStrategy[Canvas]) -> st.SearchStrategy[Canvas]:
    return st.one_of(
        st.builds(lambda items: Chain(tuple(items)), st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda items: Group(tuple(items)), st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda h, b: Chord(tuple(h), b),
                  st.lists(children, min_size=0, max_size=3), children),
    )


@st.composite
def _errback(draw: st.DrawFn, immutable: bool) -> Task:
    """A new-style errback (log_error: the request and the exception), or an old-style one (a
    tag, labelled eN: Celery applies it with the failed task's id first), at times immutable
    where ``immutable`` allows (then it gets nothing). Shrinks towards log_error."""
    kind = draw(st.integers(0, 2))
    return Task("log_error") if kind == 0 else Task("tag", (), {}, kind == 2 and immutable)


@st.composite
def _with_callbacks(draw: st.DrawFn, canvas: Canvas, allow: bool, errbacks: bool | None = None,
                    immutable: bool = True) -> Canvas:
    """Attach links (tag) to some tasks and chords, and errbacks (``_errback``) to some tasks
    and chords.

    ``allow`` turns links on, and errbacks too unless ``errbacks`` says otherwise (a swarm
    turns them on and off separately). A feature that is off draws nothing, so ``workloads()``
    draws exactly what it drew before ``errbacks`` existed.
    """
    links, errs = allow, allow if errbacks is None else errbacks
    if not (links or errs):
        return canvas
    if isinstance(canvas, Task):
        link = Task("tag") if links and canvas.op != "fail" and draw(st.booleans()) else None
        err = draw(_errback(immutable)) if errs and draw(st.integers(0, 3)) == 0 else None
        return replace(canvas, link=link, link_error=err)
    if isinstance(canvas, Chain | Group):
        items = tuple(draw(_with_callbacks(c, links, errs, immutable)) for c in canvas.items)
        return replace(canvas, items=items)
    header = tuple(draw(_with_callbacks(c, links, errs, immutable)) for c in canvas.header)
    body = draw(_with_callbacks(canvas.body, links, errs, immutable))
    link = Task("tag") if links and draw(st.integers(0, 3)) == 0 else None
    err = draw(_errback(immutable)) if errs and draw(st.booleans()) else None
    return replace(canvas, header=header, body=body, link=link, link_error=err)


def label(canvas: Canvas) -> Canvas:
    """Give each drawn task a unique label argument t0, t1, ... in document order, and each
    old-style errback one of its own, e0, e1, ... (so labels of tasks don't shift with them)."""
    counter = iter(range(10_000))
    errs = iter(range(10_000))

    def errback(eb: Canvas | None) -> Canvas | None:
        if isinstance(eb, Task) and eb.op == "tag":
            return replace(eb, args=(f"e{next(errs)}",))
        return eb

    def go(c: Canvas) -> Canvas:
        if isinstance(c, Task):
            link = go(c.link) if c.link is not None else None
            err = errback(c.link_error)
            if c.op in ("tag", "fail"):
                return replace(c, args=(f"t{next(counter)}",), link=link, link_error=err)
            if c.op in ("retry", "sleep"):
                return replace(c, args=(c.args[0], f"t{next(counter)}"), link=link, link_error=err)
            return replace(c, link=link, link_error=err)
        if isinstance(c, Chain | Group):
            return replace(c, items=tuple(go(i) for i in c.items))
        return replace(c, header=tuple(go(h) for h in c.header), body=go(c.body),
                       link=go(c.link) if c.link is not None else None,
                       link_error=errback(c.link_error))

    return go(canvas)


@functools.cache
def canvases(max_leaves: int = MAX_LEAVES) -> st.SearchStrategy[Canvas]:
    """One strategy object per size: Hypothesis validates a strategy on first use, and a fresh
    recursive one per draw made validation most of a fuzz run's time."""
    return st.recursive(_leaf(), _extend, max_leaves=max_leaves)


@st.composite
def workloads(draw: st.DrawFn, max_leaves: int = MAX_LEAVES, callbacks: bool = True,
              failures: bool = True, only_modelled: bool = True) -> Workload:
    """A workload; ``only_modelled=False`` keeps the few the model refuses, for a caller that
    drops them itself (a rejected draw would throw away a whole batch of them)."""
    canvas = draw(canvases(max_leaves))
    if not failures:
        canvas = _no_failures(canvas)
    canvas = draw(_with_callbacks(canvas, callbacks))
    args = ("a0",) if draw(st.booleans()) else ()
    workload = Workload(label(canvas), args)
    assume(not only_modelled or modelled(workload))
    return workload


def modelled(workload: Workload) -> bool:
    """Whether the model predicts this canvas (a few rare shapes are rejected, not guessed)."""
    try:
        check_workload(workload)
    except CanvasError:
        return False
    return True


def _no_failures(c: Canvas) -> Canvas:
    if isinstance(c, Task):
        return replace(c, op="tag") if c.op == "fail" else c
    if isinstance(c, Chain | Group):
        return replace(c, items=tuple(_no_failures(i) for i in c.items))
    return replace(c, header=tuple(_no_failures(h) for h in c.header), body=_no_failures(c.body))
