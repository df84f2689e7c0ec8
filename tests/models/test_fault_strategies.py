"""Fault-plan strategies: only what the backend has, and replayable from a seed."""

from __future__ import annotations

import pytest
from hypothesis import given, seed, settings

from chord_chaos.models.fault_strategies import GENTLE_FIRST, fault_plans
from chord_chaos.models.faults import NETWORK_KINDS, FaultPlan


@given(fault_plans("database", max_faults=3))
def test_the_database_backend_has_no_backend_link_or_server(plan: FaultPlan) -> None:
    for f in plan.faults:
        assert "backend" not in f.target and not f.target.endswith(".*")


@given(fault_plans("redis", kinds=("latency", "slicer"), servers=["broker"], who=["w1"]))
def test_kinds_and_targets_can_be_narrowed(plan: FaultPlan) -> None:
    for f in plan.faults:
        assert f.kind in ("latency", "slicer") and f.target == "w1.broker"


@given(fault_plans("redis", max_faults=3))
def test_process_faults_name_a_worker_or_the_anchor(plan: FaultPlan) -> None:
    for f in plan.faults:
        if f.kind not in NETWORK_KINDS and not f.kind.endswith("_redis"):
            assert f.target in ("w0", "w1") or (f.target == "@anchor" and f.anchor is not None)


def _draw_with_seed(n: int) -> list[str]:
    drawn: list[str] = []

    @settings(max_examples=n, database=None, derandomize=False)
    @seed(2026)
    @given(fault_plans("redis", max_faults=3))
    def draw(plan: FaultPlan) -> None:
        drawn.append(plan.dumps())

    draw()
    return drawn


def test_the_same_seed_draws_byte_identical_plans() -> None:
    assert _draw_with_seed(30) == _draw_with_seed(30)


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fault_plans("redis", kinds=("latency", "meteor"))


def test_plans_shrink_towards_the_gentlest_kind() -> None:
    assert GENTLE_FIRST[0] == "latency" and GENTLE_FIRST[-1] == "kill_redis"


@given(fault_plans("redis", kinds=("slicer",)))
def test_slicer_variation_stays_below_the_average_size(plan: FaultPlan) -> None:
    for f in plan.faults:  # Toxiproxy 2.12 panics otherwise (Shopify/toxiproxy#541)
        assert f.params["size_variation"] < f.params["average_size"]
