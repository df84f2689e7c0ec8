"""Swarm-drawn canvases: only the swarm's features, every feature drawn early (no cluster)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from chord_chaos.check.coverage import SHAPE_FEATURES, SWARM_NEEDS, shape_features, shown_by
from chord_chaos.models.canvas import Canvas, Chord, Group, Task, Workload, walk
from chord_chaos.models.strategies import _with_callbacks, modelled, workloads
from chord_chaos.models.swarm import (
    FEATURES,
    MAX_LEAVES,
    MAX_SLOW,
    REQUIRES,
    SLOW_SLEEPS,
    STRUCTURE,
    Swarm,
    swarm_cases,
    swarm_workload,
    swarm_workloads,
    swarms,
)
from chord_chaos.models.timeouts import SLOW_SECONDS

Case = tuple[Swarm, Workload]

# Shape features no swarm draws: groups are never drawn empty.
NEVER_DRAWN = {"empty-group"}
# How many examples a fixed seed may take to draw a feature (at most 257 with Hypothesis 6.170;
# what it draws also depends on the literals Hypothesis finds in the source, so keep a margin).
BOUND = 1000
FIXED = settings(derandomize=True, database=None, max_examples=BOUND, phases=[Phase.generate])


def _leaves(canvas: Canvas) -> int:
    """Tasks drawn as leaves, not as callbacks."""
    return sum(1 for p, c in walk(canvas) if isinstance(c, Task) and ".link" not in p)


def _examples_to(predicate: Callable[[Case], object]) -> int:
    """How many cases a fixed seed draws until ``predicate`` holds; fails beyond BOUND."""
    seen = [0]

    def holds(case: Case) -> bool:
        seen[0] += 1
        return bool(predicate(case))

    find(swarm_cases(), holds, settings=FIXED)
    return seen[0]


@settings(max_examples=200)
@given(swarm_cases())
def test_a_drawn_workload_uses_only_what_its_swarm_allows(case: Case) -> None:
    swarm, w = case
    for feature in shape_features(w):
        assert any(needs <= swarm.features for needs in SWARM_NEEDS[feature]), (feature, swarm)
    assert modelled(w)
    assert _leaves(w.canvas) <= MAX_LEAVES
    sleeps = [c for _, c in walk(w.canvas) if isinstance(c, Task) and c.op == "sleep"]
    assert sum(1 for s in sleeps if s.args[0] >= SLOW_SECONDS) <= MAX_SLOW
    assert all(s.args[0] in SLOW_SLEEPS or s.args[0] <= 0.03 for s in sleeps)


def test_slow_sleeps_are_slow_to_the_coverage() -> None:
    assert min(SLOW_SLEEPS) >= SLOW_SECONDS


@given(swarms())
def test_a_swarm_has_some_structure(swarm: Swarm) -> None:
    assert swarm.features & set(STRUCTURE)


@given(swarm_workload(Swarm(frozenset({"chain"})), max_leaves=3))
def test_a_narrow_swarm_draws_narrow_canvases(w: Workload) -> None:
    assert shape_features(w) <= {"chain"}
    assert _leaves(w.canvas) <= 3


@given(swarm_workload(Swarm(frozenset({"group-body", "chord-in-header"}))))
def test_a_refining_feature_needs_what_it_refines(w: Workload) -> None:
    """Without chord, group-body and chord-in-header have nothing to refine: a single task."""
    assert isinstance(w.canvas, Task)


@pytest.mark.parametrize("feature", sorted(set(SHAPE_FEATURES) - NEVER_DRAWN))
def test_a_fixed_seed_draws_each_shape_feature_early(feature: str) -> None:
    assert _examples_to(lambda case: feature in shape_features(case[1])) <= BOUND


@pytest.mark.parametrize("feature", FEATURES)
def test_a_swarm_that_enables_a_feature_draws_canvases_showing_it(feature: str) -> None:
    shows = set(shown_by(feature))
    _examples_to(lambda case: case[0].allows(feature) and shows & shape_features(case[1]))


def _chord_with_group_body_in_a_chord_header(w: Workload) -> bool:
    """chord([chord([a, b], group(c, d)), e], f): a header member that is a chord whose body
    is a group of two or more."""
    return any(isinstance(c, Chord) and any(
        isinstance(h, Chord) and isinstance(h.body, Group) and len(h.body.items) >= 2 for h in c.header)
        for _, c in walk(w.canvas))


def test_the_chord_with_a_group_body_in_a_chord_header_is_drawn() -> None:
    _examples_to(lambda case: _chord_with_group_body_in_a_chord_header(case[1]))


def test_swarm_workloads_are_the_workloads_of_swarm_cases() -> None:
    assert isinstance(find(swarm_workloads(), lambda w: isinstance(w.canvas, Chord), settings=FIXED),
                      Workload)


def test_shrinking_turns_features_off_and_keeps_the_shape() -> None:
    """The smallest case with a fail in a body: chord([t0], fail) (or chord([], fail)), drawn
    by a swarm of chord and fail (and empty-header)."""
    swarm, w = find(swarm_cases(), lambda case: "fail-in-body" in shape_features(case[1]),
                    settings=settings(derandomize=True, database=None, max_examples=BOUND))
    assert {"chord", "fail"} <= swarm.features <= {"chord", "fail", "empty-header"}
    assert isinstance(w.canvas, Chord) and len(w.canvas.header) <= 1 and not w.args
    assert isinstance(w.canvas.body, Task) and w.canvas.body.op == "fail"


def test_swarm_json_and_allows() -> None:
    swarm = Swarm(frozenset({"group-body", "chain", "fail"}))
    assert swarm.to_json() == ["chain", "group-body", "fail"]  # in FEATURES order
    assert Swarm.from_json(swarm.to_json()) == swarm
    assert swarm.allows("chain") and not swarm.allows("group")
    assert not swarm.allows("group-body")  # it refines chord, which is off
    assert Swarm(frozenset({"chord", "group-body"})).allows("group-body")
    assert set(REQUIRES) <= set(FEATURES)
    with pytest.raises(ValueError, match="unknown swarm feature"):
        Swarm(frozenset({"chains"}))
    with pytest.raises(ValueError, match="unknown swarm feature"):
        swarm.allows("chains")
    with pytest.raises(ValueError, match="list of feature names"):
        Swarm.from_json("chain")


# ---------------------------------------------------------------- plain workloads()


@settings(max_examples=50)
@given(workloads(callbacks=False, failures=False))
def test_plain_workloads_without_callbacks_or_failures(w: Workload) -> None:
    assert not shape_features(w) & {"link", "errback-on-task", "errback-on-chord", "fail-in-header",
                                    "fail-in-body", "fail-elsewhere"}


def test_plain_workloads_draw_the_swarm_features_too() -> None:
    drawn: set[str] = set()

    @settings(derandomize=True, database=None, max_examples=50, phases=[Phase.generate])
    @given(workloads())
    def collect(w: Workload) -> None:
        drawn.update(shape_features(w))

    collect()
    assert {"chain", "group", "chord", "chord-in-header", "link", "errback-on-task",
            "partial-args", "immutable"} <= drawn
    assert not drawn & {"slow-in-header", "slow-in-body", "slow-elsewhere"}  # sleeps stay fast


@settings(max_examples=30)
@given(st.data())
def test_callbacks_can_be_drawn_without_errbacks(data: st.DataObject) -> None:
    w = data.draw(swarm_workload(Swarm(frozenset({"chord", "chain"}))))
    canvas = data.draw(_with_callbacks(w.canvas, True, errbacks=False))
    assert "errback-on-task" not in shape_features(canvas)
    assert "errback-on-chord" not in shape_features(canvas)
