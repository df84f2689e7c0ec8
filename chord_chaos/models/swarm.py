"""Swarm testing for canvases (Groce, Zhang, Eide, Chen and Regehr, "Swarm Testing", ISSTA 2012).

Each example first draws a *swarm*: which canvas features it may use, each on or off (see
``FEATURES``), and then a canvas that uses only those. Why:

- Rare combinations appear early. With every feature always on, as in ``workloads()``, features
  crowd each other out (a failing task ends the chain that would have shown a retry; a chord's
  header spends its few leaves on everything at once), and a deep combination is a product of
  small probabilities: ``workloads()`` draws a chord with a group body of two or more inside
  another chord's header, ``chord([chord([a, b], group(c, d)), e], f)``, a few times in a
  thousand workloads. A swarm with few features on spends the whole canvas on those: one with
  ``chord``, ``chord-in-header`` and ``group-body`` on draws that shape about once in 15, and
  ``swarm_cases`` (one swarm in eight has those on) about once in 50.
- Shrinking turns features off. Each feature is an ``st.booleans()``, which shrinks towards
  False; a node's choices mean the same whatever the swarm and (but for how likely a leaf is)
  wherever the node is, so turning a feature off, or putting a node in its ancestor's place,
  keeps the rest of the canvas. A
  minimal failing case is drawn from few features, and ``Swarm.to_json()`` names them.

Canvases are small (``MAX_LEAVES`` leaves, ``MAX_DEPTH`` levels), with at most ``MAX_SLOW``
slow tasks, and every workload drawn is one the model predicts (``modelled``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from chord_chaos.models.canvas import Canvas, Chain, Chord, Group, Task, Workload
from chord_chaos.models.strategies import _with_callbacks, label, modelled

FEATURES: tuple[str, ...] = (
    "chain",            # chain nodes
    "group",            # group nodes (never empty), but for chord bodies: see group-body
    "chord",            # chord nodes
    "empty-header",     # a chord's header may be empty
    "chord-in-header",  # a chord inside another chord's header (faults.node_role "header")
    "chord-in-body",    # a chord inside another chord's body (node_role "body"), e.g. its body
    "group-body",       # a chord whose body is a group (with "group" off too)
    "immutable",        # tag and fail tasks may be immutable (.si); sleep and retry always are
    "partial-args",     # the workload is applied with an argument, prepended to the first tasks'
    "fail",             # tasks that raise (fail)
    "retry",            # tasks that retry once or twice before returning (retry)
    "slow",             # sleeps of SLOW_SLEEPS seconds, longer than the compressed timeouts
    "link",             # callbacks (a tag linked to a task or a chord)
    "errback",          # errbacks (log_error, or an old-style tag, on a task or a chord)
)

STRUCTURE = ("chain", "group", "chord")
"""At least one of these is on in every swarm drawn."""

REQUIRES: dict[str, frozenset[str]] = {
    "empty-header": frozenset({"chord"}),
    "chord-in-header": frozenset({"chord"}),
    "chord-in-body": frozenset({"chord"}),
    "group-body": frozenset({"chord"}),
}
"""Features that refine others take effect only with those on (``Swarm.allows``)."""

MAX_LEAVES = 8
MAX_DEPTH = 4
MAX_SLOW = 2
SLOW_SLEEPS = (1.0, 1.5, 2.0)
FAST_SLEEP_MS = 30


@dataclass(frozen=True)
class Swarm:
    """The features a canvas may use; the rest it never does."""

    features: frozenset[str]

    def __post_init__(self) -> None:
        unknown = sorted(self.features - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown swarm feature(s) {', '.join(unknown)}; use {', '.join(FEATURES)}")

    def allows(self, name: str) -> bool:
        """Whether canvases of this swarm may use ``name``: it is on, and so is every feature
        it refines (``REQUIRES``)."""
        if name not in FEATURES:
            raise ValueError(f"unknown swarm feature {name!r}; use {', '.join(FEATURES)}")
        return name in self.features and REQUIRES.get(name, frozenset()) <= self.features

    def to_json(self) -> list[str]:
        """The features that are on, in ``FEATURES`` order."""
        return [f for f in FEATURES if f in self.features]

    @classmethod
    def from_json(cls, obj: Any) -> Swarm:
        if not isinstance(obj, list) or not all(isinstance(f, str) for f in obj):
            raise ValueError(f"a swarm is a list of feature names, got {obj!r}")
        return cls(frozenset(obj))


@st.composite
def swarms(draw: st.DrawFn) -> Swarm:
    """Each feature on or off, with at least one of chain, group and chord on (one drawn when
    none is: a rejected draw would throw away a whole batch of workloads)."""
    on = frozenset(f for f in FEATURES if draw(st.booleans()))
    if not any(f in on for f in STRUCTURE):
        on |= {draw(st.sampled_from(sorted(STRUCTURE)))}
    return Swarm(on)


_KINDS = ("leaf", "chain", "group", "chord", "group", "chord", "chain", "group", "chord",
          "leaf", "leaf", "leaf", "leaf")
_ROOT_KINDS = 9  # the root and a chord's body are a leaf one time in nine
_LEAVES = ("tag", "tag", "tag", "tag", "sleep", "fail", "retry", "slow")


class _Drawing:
    """One canvas being drawn: the swarm and the slow tasks still allowed.

    Every choice is drawn the same whatever the swarm, and only then mapped onto what the swarm
    allows (a composite that is off here becomes the next one that is on, or a leaf; a leaf op
    that is off a tag), so that turning a feature off while shrinking changes the nodes that
    used it and leaves the rest alone; and every node is drawn as its own ``_node``, so that the
    shrinker can put a node in its ancestor's place.
    """

    def __init__(self, swarm: Swarm) -> None:
        self.swarm = swarm
        self.slow_left = MAX_SLOW

    def allowed(self, kind: str, role: str, is_body: bool) -> bool:
        sw = self.swarm
        if kind == "group":
            return sw.allows("group-body") if is_body else sw.allows("group")
        if kind == "chord":
            return sw.allows("chord") and (role == "other" or sw.allows(f"chord-in-{role}"))
        return sw.allows(kind)

    def node(self, draw: st.DrawFn, budget: int, role: str, depth: int,
             is_body: bool) -> tuple[Canvas, int]:
        """A canvas of at most ``budget`` leaves, and how many it used. ``role`` is what
        ``faults.node_role`` says of the node (header, body or other); ``is_body``: the node is
        itself a chord's body."""
        # A node's kind is _KINDS[i], the same i the same kind wherever the node is; a node
        # deeper down draws from a longer prefix, with more leaves (but a chord's body does not).
        kind = _KINDS[draw(st.integers(0, _ROOT_KINDS - 1 + (0 if is_body else depth)))]
        if budget < 2 or depth >= MAX_DEPTH:  # drawn all the same, to keep the choices aligned
            kind = "leaf"
        if kind != "leaf" and not self.allowed(kind, role, is_body):
            i = STRUCTURE.index(kind)
            later = STRUCTURE[i + 1:] + STRUCTURE[:i]
            kind = next((k for k in later if self.allowed(k, role, is_body)), "leaf")
        if kind == "leaf":
            return self.leaf(draw), 1
        if kind == "chord":
            # keep two leaves for the body where there are three, or it is mostly a task
            header, used = self.items(draw, self.swarm.allows("empty-header"),
                                      budget - (2 if budget >= 3 else 1), "header", depth)
            body, body_used = draw(_node(self, budget - used, "body", depth + 1, True))
            return Chord(header, body), used + body_used
        items, used = self.items(draw, False, budget, role, depth)
        return (Chain(items) if kind == "chain" else Group(items)), used

    def items(self, draw: st.DrawFn, may_be_empty: bool, budget: int, role: str,
              depth: int) -> tuple[tuple[Canvas, ...], int]:
        """Up to 3 members (no more than ``budget``), sharing ``budget`` leaves."""
        n = draw(st.integers(0, max(1, min(3, budget))))
        n = n if n or may_be_empty else 1
        out: list[Canvas] = []
        used = 0
        for i in range(n):
            child, k = draw(_node(self, budget - used - (n - i - 1), role, depth + 1, False))
            out.append(child)
            used += k
        return tuple(out), used

    def leaf(self, draw: st.DrawFn) -> Task:
        sw = self.swarm
        kind = _LEAVES[draw(st.integers(0, len(_LEAVES) - 1))]
        if kind not in ("tag", "sleep") and not (sw.allows(kind) and (kind != "slow" or self.slow_left)):
            kind = "tag"
        if kind in ("tag", "fail"):
            return Task(kind, (), {}, draw(st.booleans()) and sw.allows("immutable"))
        if kind == "retry":
            return Task("retry", (draw(st.integers(1, 2)), None), {}, True)
        if kind == "slow":
            self.slow_left -= 1
            seconds = SLOW_SLEEPS[draw(st.integers(0, len(SLOW_SLEEPS) - 1))]
            return Task("sleep", (seconds, None), {}, True)
        return Task("sleep", (draw(st.integers(0, FAST_SLEEP_MS)) / 1000, None), {}, True)


@st.composite
def _node(draw: st.DrawFn, drawing: _Drawing, budget: int, role: str, depth: int,
          is_body: bool) -> tuple[Canvas, int]:
    return drawing.node(draw, budget, role, depth, is_body)


@st.composite
def swarm_workload(draw: st.DrawFn, swarm: Swarm, max_leaves: int = MAX_LEAVES,
                   only_modelled: bool = True) -> Workload:
    """A workload of at most ``max_leaves`` leaves that uses only what ``swarm`` allows (and, with
    ``only_modelled=False``, perhaps a shape the model refuses, for the caller to drop)."""
    canvas, _ = draw(_node(_Drawing(swarm), max_leaves, "other", 0, False))
    canvas = draw(_with_callbacks(canvas, swarm.allows("link"), swarm.allows("errback"),
                                  swarm.allows("immutable")))
    args = ("a0",) if draw(st.booleans()) and swarm.allows("partial-args") else ()
    workload = Workload(label(canvas), args)
    assume(not only_modelled or modelled(workload))
    return workload


@st.composite
def swarm_cases(draw: st.DrawFn, max_leaves: int = MAX_LEAVES,
                only_modelled: bool = True) -> tuple[Swarm, Workload]:
    """A swarm, then a workload drawn with only its features."""
    swarm = draw(swarms())
    return swarm, draw(swarm_workload(swarm, max_leaves, only_modelled))


def swarm_workloads(max_leaves: int = MAX_LEAVES, only_modelled: bool = True) -> st.SearchStrategy[Workload]:
    """The workloads of ``swarm_cases``, without their swarm."""
    return swarm_cases(max_leaves, only_modelled).map(lambda case: case[1])
