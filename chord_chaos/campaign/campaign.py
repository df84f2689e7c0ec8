"""A chaos campaign: scenarios x backends within a time budget, each run checked and tallied.

Every (scenario, backend) pair gets an equal share of what is left of the budget (at least one
run each), in an order that reuses one chaos cluster per (backend, delivery configuration).
Within its share a pair draws (workload, fault plan) cases with Hypothesis from a seed derived
from the campaign seed (``explore.py``), so the same seed draws the same cases. A violation is
reported at once (report.json + report.html), then shrunk, replayed to measure how often it
reproduces, and reported again in its minimal form. An unknown run is reported, not shrunk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chord_chaos.campaign.explore import Case, Found, Signature, case_key, explore, pair_seed
from chord_chaos.campaign.stats import rate
from chord_chaos.campaign.summary import Summary, Tally
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.cluster.protocols import ChaosCluster
from chord_chaos.harness.infra.errors import one_line
from chord_chaos.harness.infra.supervisor import raise_if_interrupted, signal_name
from chord_chaos.harness.infra.versions import versions
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.canvas import Workload, workload_to_json
from chord_chaos.models.faults import FaultPlan
from chord_chaos.models.vocabulary import BROKER_VAR
from chord_chaos.report.json_report import Origin, write
from chord_chaos.scenarios.scenario import Scenario

ClusterFactory = Callable[[str, str], ChaosCluster]  # (backend, delivery) -> a started cluster


def local_cluster(backend: str, delivery: str) -> ChaosCluster:
    return Cluster(backend=backend, delivery=delivery).start()


@dataclass
class _Live:
    """A chaos cluster and its runner, which live and die together (the runner's nemesis
    thread is the parent of every process it restarted); replaced when it cannot be reset."""

    cluster: ChaosCluster
    runner: ChaosRunner
    factory: ClusterFactory

    @staticmethod
    def start(backend: str, delivery: str, report_dir: Path, factory: ClusterFactory,
              strict: bool = False) -> _Live:
        cluster = factory(backend, delivery)
        return _Live(cluster, ChaosRunner(cluster, report_dir, strict=strict), factory)

    def close(self) -> None:
        self.runner.stop()  # its nemesis thread restarts nothing while the cluster stops
        try:
            self.cluster.close()
        finally:
            self.runner.close()

    def restart(self) -> None:
        self.close()
        fresh = _Live.start(choice_of(self.cluster), self.cluster.delivery or "", self.runner.out_dir,
                            self.factory, self.runner.strict)
        self.cluster, self.runner = fresh.cluster, fresh.runner


def choice_of(cluster: ChaosCluster) -> str:
    """The backend as the command line named it (``postgres`` runs the database backend)."""
    return str(getattr(cluster, "backend_choice", cluster.backend))


def broker_in_use(default: str = "redis") -> str:
    """The broker of this command's clusters (``--broker``, carried in the environment)."""
    return os.environ.get(BROKER_VAR) or default


def signature(result: RunResult) -> Signature | None:
    """The checks a violating run broke (None for a pass or an unknown)."""
    if result.verdict.verdict != "violation":
        return None
    return frozenset(v.check for v in result.verdict.violations)


@dataclass
class Campaign:
    pairs: list[tuple[Scenario, str]]
    budget: float
    seed: int
    report_dir: Path
    on_run: Callable[[Tally, RunResult], None] | None = None
    shrink_budget: float = 60.0  # seconds of shrinking per failure
    replays: int = 2  # runs per shrink candidate
    reproduce: int = 3  # replays of the minimal case for its reproduction rate
    database: Path | None = None  # Hypothesis example database: known failures are drawn first
    factory: ClusterFactory = local_cluster  # compose mode passes its own
    strict: bool = False  # no known-issue excuses
    tallies: list[Tally] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)  # reset when the campaign starts

    def run(self) -> Summary:
        """Run the campaign; returns the summary (also written to ``summary.json``).

        Ctrl-C or SIGTERM ends it early: the run in flight is torn down and counted as
        ``interrupted``, and the summary says which signal stopped the campaign."""
        started, t0 = time.time(), time.monotonic()
        self.t0 = t0
        order = sorted(self.pairs, key=lambda p: (p[1], p[0].delivery))
        self.tallies = [Tally(s.name, b, s.delivery) for s, b in order]
        live: _Live | None = None
        interrupted: str | None = None
        try:
            for i, ((scenario, backend), tally) in enumerate(zip(order, self.tallies, strict=True)):
                if live is None or (choice_of(live.cluster), live.cluster.delivery) != (
                        backend, scenario.delivery):
                    if live is not None:
                        live.close()
                        live = None
                    live = _Live.start(backend, scenario.delivery, self.report_dir, self.factory,
                                       self.strict)
                left = self.budget - (time.monotonic() - t0)
                share_end = time.monotonic() + left / (len(order) - i)
                _Pair(self, scenario, backend, live, tally, share_end).explore()
        except (KeyboardInterrupt, SystemExit) as stop:
            interrupted = signal_name(stop)
        finally:
            if live is not None:
                live.close()
        return Summary(self.tallies, self.failures, seed=self.seed, budget=self.budget,
                       started=started, elapsed=time.monotonic() - t0, interrupted=interrupted,
                       versions=versions()).write(self.report_dir)


@dataclass
class _Pair:
    """One (scenario, backend) pair's share of a campaign."""

    campaign: Campaign
    scenario: Scenario
    backend: str
    live: _Live
    tally: Tally
    share_end: float
    failing: dict[str, tuple[RunResult, int, int]] = field(default_factory=dict)  # key -> last, k, n

    @property
    def seed(self) -> int:
        return pair_seed(self.campaign.seed, self.scenario.name, self.backend)

    def explore(self) -> None:
        database = None
        if self.campaign.database is not None:
            database = self.campaign.database / f"{self.scenario.name}-{self.backend}"
        explore(self.scenario.cases(self.backend, broker_in_use()), self.seed, self.over,
                self.judge, self.found, self.campaign.shrink_budget, database)

    def over(self) -> bool:
        """Past the share, or the next run (as long as the average so far) would overrun it."""
        t = self.tally
        return bool(t.runs) and time.monotonic() + t.seconds / t.runs > self.share_end

    def run(self, workload: Workload, plan: FaultPlan, shrinking: bool) -> RunResult | None:
        t = time.monotonic()
        try:
            raise_if_interrupted()
            result = self.live.runner.run(Job(f"{self.scenario.name}#{self.tally.runs}", workload), plan)
            raise_if_interrupted()  # its exception lost on the way out: this run is not a result
        except (KeyboardInterrupt, SystemExit):
            self.tally.runs += 1
            self.tally.interrupted += 1
            self.tally.seconds += time.monotonic() - t
            raise
        except Exception as exc:  # the harness failed, not Celery: count it, start afresh
            self.tally.runs += 1
            self.tally.unknown += 1
            self.campaign.failures.append({
                "scenario": self.scenario.name, "backend": self.backend, "verdict": "unknown",
                "messages": [one_line(exc)],
                "canvas": workload_to_json(workload), "plan": plan.to_json()})
            self.live.restart()
            return None
        self.tally.add(result, time.monotonic() - t, shrinking)
        if self.campaign.on_run is not None:
            self.campaign.on_run(self.tally, result)
        return result

    def judge(self, workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        runs = self.campaign.replays if shrinking else 1
        failed, last, sig = 0, None, None
        for _ in range(runs):
            result = self.run(workload, plan, shrinking)
            if result is None:
                continue
            s = signature(result)
            if s is not None:
                failed, last, sig = failed + 1, result, (sig or frozenset()) | s
            elif result.verdict.verdict == "unknown" and not shrinking:
                self.report(result, Origin(self.scenario.name, self.campaign.seed, self.seed), "unknown")
        if last is None:
            return None
        self.failing[case_key((workload, plan))] = (last, failed, runs)
        if not shrinking:
            self.report(last, Origin(self.scenario.name, self.campaign.seed, self.seed), "first")
        return sig

    def found(self, found: Found[Case]) -> None:
        """Replay the minimal case for its rate and report it next to the first failure."""
        result, failed, runs = self.failing[case_key(found.minimal)]
        k = 0
        for _ in range(self.campaign.reproduce):
            again = self.run(*found.minimal, True)
            if again is not None and (signature(again) or frozenset()) & found.signature:
                k += 1
        origin = Origin(self.scenario.name, self.campaign.seed, self.seed, found.blob,
                        shrink={"candidates": found.candidates, "failed": failed, "of": runs,
                                "shrunk": case_key(found.first) != case_key(found.minimal)},
                        reproduction=rate(k, self.campaign.reproduce))
        self.report(result, origin, "minimal")

    def report(self, result: RunResult, origin: Origin, stage: str) -> None:
        name = f"{self.scenario.name}-{self.backend}-{result.history.run}"
        path = write(result, origin, self.campaign.report_dir, name)
        self.campaign.failures.append({
            "scenario": self.scenario.name, "backend": self.backend, "stage": stage,
            "verdict": result.verdict.verdict, "run": result.history.run, "report": str(path),
            "replay": f"chord-chaos replay {path}", "reproduction": origin.reproduction,
            "found_after": round(time.monotonic() - self.campaign.t0, 1),
            "messages": [v.message for v in result.verdict.violations] + list(result.verdict.reasons)})

