"""Fault plans: validation names the field and the fix; every valid plan survives JSON."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given

from chord_chaos.models.fault_strategies import fault_plans
from chord_chaos.models.faults import (
    LOSSY,
    SLOW,
    WORKER_KILL,
    Anchor,
    Fault,
    FaultPlan,
    PlanError,
    fit_anchors,
    links_of,
    loads_plan,
    node_role,
    parse_plan,
    server_roles,
)
from chord_chaos.models.vocabulary import FaultKind


@given(fault_plans("redis", max_faults=4))
def test_every_drawn_plan_round_trips_through_json(plan: FaultPlan) -> None:
    assert parse_plan(json.loads(plan.dumps())) == plan


@pytest.mark.parametrize(("plan", "message"), [
    ({"faults": [{"kind": "flood", "target": "w0.broker"}]}, "plan.faults[0].kind: 'flood' is not a fault"),
    ({"faults": [{"kind": "latency", "target": "w0"}]}, "plan.faults[0].target: 'w0' does not fit latency"),
    ({"faults": [{"kind": "kill_worker", "target": "broker"}]}, "name a worker wN"),
    ({"faults": [{"kind": "kill_redis", "target": "w1"}]}, "name broker or backend"),
    ({"faults": [{"kind": "latency", "target": "*.broker", "params": {"rate": 3}}]},
     "latency takes latency, jitter, not rate"),
    ({"faults": [{"kind": "latency", "target": "*.broker", "params": {"latency": -5}}]},
     "params.latency: expected a number from 1 to 2000"),
    ({"faults": [{"kind": "latency", "target": "*.*", "at": "soon"}]}, "faults[0].at: expected a number"),
    ({"faults": [{"kind": "kill_child", "target": "@anchor"}]}, "@anchor needs an anchor"),
    ({"faults": [{"kind": "kill_child", "target": "@anchor", "anchor": {"role": "middle"}}]},
     "anchor.role: use one of header, body, any"),
    ({"faults": [{"kind": "partition", "target": "w0.broker", "speed": 1}]}, "unknown field(s) speed"),
    ({"faults": {}}, 'expected an object {"faults": [...]}'),
    ({"faults": [{"kind": "slicer", "target": "w0.broker",
                  "params": {"average_size": 8, "size_variation": 8}}]},
     "size_variation: must be below average_size"),
])
def test_a_bad_plan_names_the_field(plan: object, message: str) -> None:
    with pytest.raises(PlanError, match=re.escape(message)):
        parse_plan(plan)


def test_malformed_json_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match=re.escape("p.json: not JSON")):
        loads_plan("{", "p.json")


def test_window_classes_and_roles() -> None:
    plan = FaultPlan((Fault(FaultKind.LATENCY, "*.broker", 0.5, 1.0, {"latency": 50}),
                      Fault(FaultKind.RESET_PEER, "w0.backend", 2.0, 0.5),
                      Fault(FaultKind.KILL_WORKER, "@anchor", 0.1, 1.0, anchor=Anchor("start", "body"))))
    assert plan.window == 2.5  # anchored faults are not counted: their time is not known yet
    assert plan.classes == tuple(sorted((SLOW, LOSSY, WORKER_KILL)))
    assert node_role("$.chord.header[1]") == "header"
    assert node_role("$.chord.body.chain[1]") == "body"
    assert node_role("$.chord.header[0].chord.body") == "body"
    assert node_role("$.chord.body.chord.header[0]") == "header"
    assert node_role("$.chain[0]") == "other"
    assert Anchor("end", "header").matches("end", "$.chord.header[2]")
    assert not Anchor("end", "header").matches("start", "$.chord.header[2]")


def test_start_anchors_are_fitted_onto_starts_the_canvas_has() -> None:
    plan = parse_plan({"faults": [
        {"kind": "kill_child", "target": "@anchor",
         "anchor": {"event": "start", "role": "header", "count": 3}},
        {"kind": "latency", "target": "w0.broker", "anchor": {"event": "start", "role": "body", "count": 1}},
        {"kind": "latency", "target": "w0.broker", "anchor": {"event": "end", "role": "body", "count": 5}},
        {"kind": "kill_worker", "target": "w0", "at": 1.0}]})
    fitted = fit_anchors(plan, {"header": 2, "other": 1})
    assert [f.anchor for f in fitted.faults] == [
        Anchor("start", "header", 2),  # past the header's two starts: its last
        Anchor("start", "any", 1),  # no body: any task
        Anchor("end", "body", 5), None]  # end anchors and timed faults stay as written
    assert fit_anchors(plan, {}) == plan  # nothing starts: nothing to fit onto


@pytest.mark.parametrize(("kind", "target", "ok"), [
    ("kill_rabbitmq", "broker", True), ("restart_rabbitmq", "backend", False),
    ("restart_postgres", "backend", True), ("restart_postgres", "broker", False),
    ("kill_redis", "backend", True)])
def test_a_server_fault_names_the_role_its_server_plays(kind: str, target: str, ok: bool) -> None:
    obj = {"faults": [{"kind": kind, "target": target}]}
    if ok:
        assert parse_plan(obj).faults[0].target == target
    else:
        with pytest.raises(PlanError, match=f"does not fit {kind}; name "):
            parse_plan(obj)


def test_server_roles_follow_the_cluster() -> None:
    assert server_roles(FaultKind.RESTART_REDIS, "redis", "rabbitmq") == ["backend"]
    assert server_roles(FaultKind.RESTART_REDIS, "database", "rabbitmq") == []
    assert server_roles(FaultKind.KILL_RABBITMQ, "redis", "rabbitmq") == ["broker"]
    assert server_roles(FaultKind.RESTART_POSTGRES, "database", "redis") == []
    assert server_roles(FaultKind.LATENCY, "redis", "redis") is None
    assert links_of("postgres") == ["broker", "backend"] and links_of("database") == ["broker"]
