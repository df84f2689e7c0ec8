"""Campaigns: seeded draws, a real short campaign's summary, and no orphan after Ctrl-C or kill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chord_chaos.campaign.explore import explore, without_failures
from chord_chaos.check.effectiveness import PROCESS_FAULTS
from chord_chaos.cli.main import main
from chord_chaos.models.canvas import Workload, workload_to_json
from chord_chaos.models.faults import FaultPlan, parse_plan, server_roles
from chord_chaos.models.semantics import predict
from chord_chaos.models.vocabulary import BROKERS
from chord_chaos.scenarios.registry import pairs_of, registry, select
from chord_chaos.scenarios.scenario import predicted_starts


def _cases(name: str, backend: str, seed: int, n: int = 8,
           broker: str = "redis") -> list[tuple[Workload, FaultPlan]]:
    drawn: list[tuple[Workload, FaultPlan]] = []
    explore(registry()[name].cases(backend, broker), seed, lambda: len(drawn) >= n,
            without_failures(lambda workload, plan: drawn.append((workload, plan))))
    return drawn


def _draw(name: str, backend: str, seed: int) -> list[str]:
    return [json.dumps(workload_to_json(w), sort_keys=True) + p.dumps()
            for w, p in _cases(name, backend, seed)]


@pytest.mark.parametrize("name", ["broker-latency", "worker-killed-mid-body", "map-reduce"])
def test_the_same_seed_draws_the_same_cases(name: str) -> None:
    first = _draw(name, "redis", 7)
    assert len(first) == 8 and first == _draw(name, "redis", 7)
    assert first != _draw(name, "redis", 8)


@pytest.mark.parametrize("broker", BROKERS)
def test_every_scenario_draws_valid_cases_on_each_backend(broker: str) -> None:
    for scenario in registry().values():
        for backend in pairs_of(scenario, broker):
            for workload, plan in _cases(scenario.name, backend, 1, 5, broker):
                predict(workload)  # a drawn canvas the model cannot take would crash a campaign
                assert parse_plan(json.loads(plan.dumps())) == plan
                if backend == "database":
                    assert all("backend" not in f.target for f in plan.faults)
                for f in plan.faults:  # a server fault hits a server this cluster runs
                    assert server_roles(f.kind, backend, broker) in (None, [f.target], ["broker", "backend"])
                    assert f.target in (server_roles(f.kind, backend, broker) or [f.target])
                starts = predicted_starts(workload)
                for f in plan.faults:  # every drawn fault lands on a start the canvas will have
                    assert f.anchor is not None and f.anchor.event == "start", (scenario.name, f)
                    have = sum(starts.values()) if f.anchor.role == "any" else starts.get(f.anchor.role, 0)
                    assert 1 <= f.anchor.count <= have, (scenario.name, workload, f)
                    if f.kind in PROCESS_FAULTS:
                        assert f.target == "@anchor", (scenario.name, f)


def test_each_broker_and_backend_pair_runs_the_scenarios_that_make_sense_there() -> None:
    def names(backends: list[str] | None, broker: str) -> set[tuple[str, str]]:
        return {(s.name, b) for s, b in select(None, backends, broker)}

    on_redis, on_rabbitmq = names(None, "redis"), names(None, "rabbitmq")
    assert ("redis-restart-mid-chord", "database") in on_redis  # the broker is a redis-server
    assert ("redis-restart-mid-chord", "database") not in on_rabbitmq  # no Redis to restart
    assert ("redis-restart-mid-chord", "redis") in on_rabbitmq  # the backend's
    assert {n for n, _ in on_rabbitmq} >= {"rabbitmq-restart-mid-chord", "broker-resets"}
    assert "rabbitmq-restart-mid-chord" not in {n for n, _ in on_redis}
    assert all(b != "postgres" for _, b in on_redis | on_rabbitmq)  # postgres only when asked
    asked = names(["postgres"], "rabbitmq")
    assert ("postgres-restart-mid-chord", "postgres") in asked and ("backend-resets", "postgres") in asked


@pytest.mark.cluster
def test_a_short_campaign_writes_its_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chaos", "--budget", "20", "--scenario", "broker-latency", "--scenario",
                 "child-killed-mid-header", "--backend", "redis", "--seed", "3", "--shrink-budget", "5",
                 "--database", "none",
                 "--report-dir", str(tmp_path)])
    out = capsys.readouterr()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == (1 if summary["totals"].get("violations") else 3 if summary["totals"].get("unknown")
                    else 0), out.out
    pairs = {(s["scenario"], s["backend"], s["delivery"]) for s in summary["scenarios"]}
    assert pairs == {("broker-latency", "redis", "acks-early"),
                     ("child-killed-mid-header", "redis", "acks-late-reject")}
    assert all(s["runs"] >= 1 for s in summary["scenarios"])
    assert summary["totals"]["faults"] >= 1
    assert summary["versions"]["celery"].startswith("5.7") and not summary["interrupted"]
    assert "broker-latency" in out.out and "summary:" in out.out
    assert len(list((tmp_path / "histories").glob("history-*.json"))) == summary["totals"]["runs"]


@pytest.mark.cluster
def test_two_workers_run_isolated_slices_and_merge(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chaos", "--budget", "6", "--workers", "2", "--scenario", "broker-latency",
                 "--scenario", "backend-resets", "--backend", "redis", "--database", "none",
                 "--shrink-budget", "5",
                 "--report-dir", str(tmp_path), "--junit", str(tmp_path / "junit.xml")])
    out = capsys.readouterr().out
    merged = json.loads((tmp_path / "summary.json").read_text())
    slices = [json.loads((tmp_path / f"worker-{k}" / "summary.json").read_text()) for k in (1, 2)]
    assert [[s["scenario"] for s in sl["scenarios"]] for sl in slices] == [["broker-latency"],
                                                                           ["backend-resets"]]
    assert merged["merged_from"] == 2 and merged["totals"]["runs"] == sum(
        sl["totals"]["runs"] for sl in slices)
    assert (tmp_path / "junit.xml").exists() and "2 workers" in out
    assert code == (1 if merged["totals"].get("violations") else 3 if merged["totals"].get("unknown")
                    else 0)
