"""A chaos campaign: scenarios x backends within a time budget, each run checked and tallied.

Every (scenario, backend) pair gets an equal share of what is left of the budget (at least one
run each), in an order that reuses one chaos cluster per (backend, delivery configuration).
Within its share a pair draws (workload, fault plan) cases with Hypothesis from a seed derived
from the campaign seed, so the same seed draws the same cases. A violation or an unknown run
leaves a case directory with the canvas, the plan and the exact command that replays it.
"""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from chord_chaos.harness.chaos_runner import ChaosRunner
from chord_chaos.harness.cluster import Cluster
from chord_chaos.harness.runner import Job, RunResult
from chord_chaos.harness.versions import versions
from chord_chaos.models.canvas import Workload, workload_to_json
from chord_chaos.models.faults import FaultPlan
from chord_chaos.scenarios.registry import Scenario

MAX_EXAMPLES = 100_000  # the budget, not this, ends a pair's exploration


class _ShareOver(Exception):
    """Raised inside the Hypothesis loop when a pair's share of the budget is spent."""


def explore(scenario: Scenario, backend: str, pair_seed: int, over: Callable[[], bool],
            case: Callable[[Workload, FaultPlan], None]) -> None:
    """Draw (workload, fault plan) cases with Hypothesis from ``pair_seed`` and hand each to
    ``case`` until ``over()``: the same seed draws the same cases in the same order."""

    @settings(max_examples=MAX_EXAMPLES, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              derandomize=False, print_blob=False)
    @seed(pair_seed)
    @given(st.tuples(scenario.workloads(), scenario.faults(backend)))
    def draw(drawn: tuple[Workload, FaultPlan]) -> None:
        if over():
            raise _ShareOver
        case(*drawn)

    with contextlib.suppress(_ShareOver):
        draw()


@dataclass
class _Live:
    """A chaos cluster and its runner, which live and die together (the runner's nemesis
    thread is the parent of every process it restarted); replaced when it cannot be reset."""

    cluster: Cluster
    runner: ChaosRunner

    @staticmethod
    def start(backend: str, delivery: str, report_dir: Path) -> _Live:
        cluster = Cluster(backend=backend, delivery=delivery).start()
        return _Live(cluster, ChaosRunner(cluster, report_dir))

    def close(self) -> None:
        try:
            self.cluster.close()
        finally:
            self.runner.close()

    def restart(self) -> None:
        self.close()
        fresh = _Live.start(self.cluster.backend, self.cluster.delivery or "", self.runner.out_dir)
        self.cluster, self.runner = fresh.cluster, fresh.runner


@dataclass
class Tally:
    scenario: str
    backend: str
    delivery: str
    runs: int = 0
    faults: int = 0  # faults the nemesis applied
    passed: int = 0
    violations: int = 0
    known: int = 0
    anomalies: int = 0
    unknown: int = 0
    seconds: float = 0.0
    anomaly_properties: Counter[str] = field(default_factory=Counter)
    known_issues: Counter[str] = field(default_factory=Counter)

    def add(self, result: RunResult, seconds: float) -> None:
        v = result.verdict
        self.runs += 1
        self.seconds += seconds
        self.faults += sum(1 for r in result.history.nemesis if r.get("applied") is not None
                           and not r.get("error"))
        self.passed += v.verdict == "pass"
        self.violations += v.verdict == "violation"
        self.unknown += v.verdict == "unknown"
        self.known += bool(v.known)
        self.anomalies += bool(v.anomalies)
        self.anomaly_properties.update(prop for prop, _ in v.anomalies)
        self.known_issues.update(k for k, _ in v.known)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "backend": self.backend, "delivery": self.delivery,
                "runs": self.runs, "faults": self.faults, "passed": self.passed,
                "violations": self.violations, "known_issue_runs": self.known,
                "anomaly_runs": self.anomalies, "unknown": self.unknown,
                "seconds": round(self.seconds, 1),
                "anomalies": dict(sorted(self.anomaly_properties.items())),
                "known_issues": dict(sorted(self.known_issues.items()))}


@dataclass
class Campaign:
    pairs: list[tuple[Scenario, str]]
    budget: float
    seed: int
    report_dir: Path
    on_run: Callable[[Tally, RunResult], None] | None = None
    tallies: list[Tally] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def run(self) -> dict[str, Any]:
        """Run the campaign; returns the summary (also written to ``summary.json``)."""
        started, t0 = time.time(), time.monotonic()
        order = sorted(self.pairs, key=lambda p: (p[1], p[0].delivery))
        self.tallies = [Tally(s.name, b, s.delivery) for s, b in order]
        live: _Live | None = None
        interrupted = False
        try:
            for i, ((scenario, backend), tally) in enumerate(zip(order, self.tallies, strict=True)):
                if live is None or (live.cluster.backend, live.cluster.delivery) != (
                        backend, scenario.delivery):
                    if live is not None:
                        live.close()
                        live = None
                    live = _Live.start(backend, scenario.delivery, self.report_dir)
                left = self.budget - (time.monotonic() - t0)
                share_end = time.monotonic() + left / (len(order) - i)
                self._explore(scenario, backend, live, tally, share_end)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if live is not None:
                live.close()
            summary = self._summary(started, time.monotonic() - t0, interrupted)  # even on Ctrl-C
        return summary

    def pair_seed(self, scenario: Scenario, backend: str) -> int:
        return zlib.crc32(f"{self.seed}:{scenario.name}:{backend}".encode())

    def _explore(self, scenario: Scenario, backend: str, state: _Live, tally: Tally,
                 share_end: float) -> None:

        def one(workload: Workload, plan: FaultPlan) -> None:
            t = time.monotonic()
            try:
                result = state.runner.run(Job(f"{scenario.name}#{tally.runs}", workload), plan)
            except Exception as exc:  # the harness failed, not Celery: count it, start afresh
                tally.runs += 1
                tally.unknown += 1
                self.failures.append({"scenario": scenario.name, "backend": backend,
                                      "verdict": "unknown", "messages": [
                                          " ".join(f"{type(exc).__name__}: {exc}".split())[:300]],
                                      "canvas": workload_to_json(workload), "plan": plan.to_json()})
                state.restart()
                return
            tally.add(result, time.monotonic() - t)
            if result.verdict.verdict != "pass":
                self._save_case(scenario, backend, result, plan)
            if self.on_run is not None:
                self.on_run(tally, result)

        def over() -> bool:
            """Past the share, or the next run (as long as the average so far) would overrun it."""
            return bool(tally.runs) and time.monotonic() + tally.seconds / tally.runs > share_end

        explore(scenario, backend, self.pair_seed(scenario, backend), over, one)

    def _save_case(self, scenario: Scenario, backend: str, result: RunResult, plan: FaultPlan) -> None:
        """canvas.json + plan.json + case.json: enough to replay the run with one command."""
        case_dir = self.report_dir / "cases" / f"{scenario.name}-{backend}-{result.history.run}"
        case_dir.mkdir(parents=True, exist_ok=True)
        (case_dir / "canvas.json").write_text(json.dumps(workload_to_json(result.job.workload), indent=1))
        (case_dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=1))
        replay = (f"chord-chaos run --backend {backend} --delivery {scenario.delivery} "
                  f"--faults {case_dir / 'plan.json'} {case_dir / 'canvas.json'}")
        case = {"scenario": scenario.name, "backend": backend, "delivery": scenario.delivery,
                "campaign_seed": self.seed, "pair_seed": self.pair_seed(scenario, backend),
                "history": str(result.history_path), "replay": replay, **result.to_json()}
        (case_dir / "case.json").write_text(json.dumps(case, indent=1, default=repr))
        self.failures.append({"scenario": scenario.name, "backend": backend,
                              "verdict": result.verdict.verdict, "run": result.history.run,
                              "case": str(case_dir), "replay": replay,
                              "messages": [v.message for v in result.verdict.violations]
                              + list(result.verdict.reasons)})

    def _summary(self, started: float, elapsed: float, interrupted: bool = False) -> dict[str, Any]:
        totals = Counter[str]()
        for t in self.tallies:
            totals.update({"runs": t.runs, "faults": t.faults, "passed": t.passed,
                           "violations": t.violations, "known_issue_runs": t.known,
                           "anomaly_runs": t.anomalies, "unknown": t.unknown})
        summary = {"seed": self.seed, "budget": self.budget, "started": started,
                   "interrupted": interrupted,
                   "elapsed": round(elapsed, 1), "versions": versions(),
                   "totals": dict(totals), "scenarios": [t.to_json() for t in self.tallies],
                   "failures": self.failures}
        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / "summary.json"
        path.write_text(json.dumps(summary, indent=1))
        summary["path"] = str(path)
        return summary
