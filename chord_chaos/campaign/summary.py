"""Campaign tallies and summaries: one Tally per (scenario, backend, delivery), summed into
``summary.json``; summaries of shards or parallel workers merge into one."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from chord_chaos.check.coverage import shape_features
from chord_chaos.check.effectiveness import HIT, PROCESS_FAULTS
from chord_chaos.check.outlived import outlived
from chord_chaos.check.result import RunResult
from chord_chaos.harness.infra.files import write_atomic
from chord_chaos.models.vocabulary import VerdictKind


@dataclass
class Tally:
    """What one (scenario, backend, delivery) pair did: counters that add up across shards."""

    scenario: str
    backend: str
    delivery: str
    runs: int = 0
    shrink_runs: int = 0  # of ``runs``: candidates and replays while minimising a failure
    faults: int = 0  # faults the nemesis applied
    passed: int = 0
    violations: int = 0
    known: int = 0
    anomalies: int = 0
    unknown: int = 0
    interrupted: int = 0  # the run in flight when Ctrl-C or SIGTERM came: neither pass nor unknown
    seconds: float = 0.0
    landed_runs: int = 0  # of the runs whose nemesis applied a fault: every fault hit
    faulted_runs: int = 0
    anomaly_properties: Counter[str] = field(default_factory=Counter)
    known_issues: Counter[str] = field(default_factory=Counter)
    landings: Counter[str] = field(default_factory=Counter)  # "kind:hit" / "kind:missed" / ...
    hits: Counter[str] = field(default_factory=Counter)  # "kind x role": what the hits reached
    features: Counter[str] = field(default_factory=Counter)  # coverage: shape features and timeouts

    def add(self, result: RunResult, seconds: float, shrinking: bool) -> None:
        v = result.verdict
        self.runs += 1
        self.shrink_runs += shrinking
        self.seconds += seconds
        self.faults += sum(1 for r in result.history.nemesis if r.get("applied") is not None
                           and not r.get("error"))
        self.passed += v.verdict == VerdictKind.PASS
        self.violations += v.verdict == VerdictKind.VIOLATION and not shrinking
        self.unknown += v.verdict == VerdictKind.UNKNOWN
        self.known += bool(v.known)
        self.anomalies += bool(v.anomalies)
        self.anomaly_properties.update(prop for prop, _ in v.anomalies)
        self.known_issues.update(k for k, _ in v.known)
        self.landings.update(f"{landing.kind}:{landing.outcome}" for landing in v.landings)
        self.hits.update(f"{landing.kind} x {role}" for landing in v.landings
                         if landing.outcome == HIT for role in landing.roles)
        self.features.update(shape_features(result.job.workload))
        self.features.update(f"outlived {name}" for name in outlived(result.history.events))
        if v.landings:
            self.faulted_runs += 1
            self.landed_runs += all(landing.outcome == HIT for landing in v.landings)

    def effectiveness(self, kinds: tuple[str, ...] | None = None) -> tuple[int, int]:
        """(hit, applied) over faults of ``kinds`` (all kinds by default; unmeasured ones out)."""
        hit = applied = 0
        for key, n in self.landings.items():
            kind, _, outcome = key.partition(":")
            if (kinds is None or kind in kinds) and outcome != "unmeasured":
                applied += n
                hit += n if outcome == HIT else 0
        return hit, applied

    def process_effectiveness(self) -> tuple[int, int]:
        return self.effectiveness(tuple(PROCESS_FAULTS))

    # summary name -> attribute, for every counter that adds up across runs, shards and workers
    COUNTERS: ClassVar[dict[str, str]] = {"runs": "runs", "shrink_runs": "shrink_runs", "faults": "faults",
                "passed": "passed", "violations": "violations", "known_issue_runs": "known",
                "anomaly_runs": "anomalies", "unknown": "unknown", "interrupted": "interrupted",
                "faulted_runs": "faulted_runs", "landed_runs": "landed_runs"}
    COUNTED: ClassVar[tuple[str, ...]] = ("anomaly_properties", "known_issues", "landings", "hits",
                                          "features")
    JSON_NAMES: ClassVar[dict[str, str]] = {"anomaly_properties": "anomalies"}

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, attr) for name, attr in self.COUNTERS.items()}

    def absorb(self, other: Tally) -> None:
        """Add another tally of the same pair (a shard's, a worker's)."""
        for attr in (*self.COUNTERS.values(), "seconds"):
            setattr(self, attr, getattr(self, attr) + getattr(other, attr))
        for attr in self.COUNTED:
            getattr(self, attr).update(getattr(other, attr))

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "backend": self.backend, "delivery": self.delivery,
                **self.counts(), "seconds": round(self.seconds, 1),
                **{self.JSON_NAMES.get(a, a): dict(sorted(getattr(self, a).items())) for a in self.COUNTED}}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Tally:
        t = Tally(obj["scenario"], obj["backend"], obj["delivery"], seconds=obj.get("seconds", 0.0))
        for attr in Tally.COUNTED:
            setattr(t, attr, Counter(obj.get(Tally.JSON_NAMES.get(attr, attr), {})))
        for name, attr in Tally.COUNTERS.items():
            setattr(t, attr, obj.get(name, 0))
        return t


@dataclass
class Summary:
    """A campaign's ``summary.json``: its tallies, every failure (a dict per report: scenario,
    backend, stage, verdict, messages, report and replay paths), and how the campaign ran."""

    tallies: list[Tally]
    failures: list[dict[str, Any]]
    seed: int | None = None
    budget: float = 0.0
    started: float = 0.0
    elapsed: float = 0.0
    interrupted: str | None = None  # the signal that stopped it early, e.g. "SIGINT"
    versions: dict[str, str] = field(default_factory=dict)
    merged_from: int = 0  # summaries joined into this one (shards, parallel workers)
    seeds: list[int] = field(default_factory=list)
    path: Path | None = None  # where it was written

    def totals(self) -> dict[str, int]:
        totals = Counter[str]()
        for t in self.tallies:
            totals.update(t.counts())
        return {name: totals[name] for name in Tally.COUNTERS}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "totals": self.totals(), "scenarios": [t.to_json() for t in self.tallies],
            "failures": self.failures, "seed": self.seed, "budget": self.budget,
            "started": self.started, "elapsed": round(self.elapsed, 1),
            "interrupted": self.interrupted, "versions": self.versions}
        if self.merged_from:
            out.update({"merged_from": self.merged_from, "seeds": self.seeds})
        return out

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Summary:
        interrupted = obj.get("interrupted")
        return Summary(
            [Tally.from_json(t) for t in obj["scenarios"]], list(obj["failures"]),
            seed=obj.get("seed"), budget=float(obj.get("budget", 0.0)),
            started=float(obj.get("started", 0.0)), elapsed=float(obj.get("elapsed", 0.0)),
            interrupted="SIGINT" if interrupted is True else (interrupted or None),
            versions=dict(obj.get("versions", {})), merged_from=int(obj.get("merged_from", 0)),
            seeds=list(obj.get("seeds", [])))

    def write(self, directory: Path) -> Summary:
        """``directory/summary.json``, atomically; sets ``path``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "summary.json"
        write_atomic(self.path, json.dumps(self.to_json(), indent=1))
        return self


def merge_summaries(summaries: list[Summary], out: Path) -> Summary:
    """Sum the tallies of the same (scenario, backend, delivery), keep every failure, write
    ``out/summary.json``."""
    tallies: dict[tuple[str, str, str], Tally] = {}
    failures: list[dict[str, Any]] = []
    for s in summaries:
        for t in s.tallies:
            key = (t.scenario, t.backend, t.delivery)
            if key in tallies:
                tallies[key].absorb(t)
            else:
                tallies[key] = Tally.from_json(t.to_json())
        failures += s.failures
    merged = Summary(
        list(tallies.values()), failures, merged_from=len(summaries),
        seeds=sorted({s.seed for s in summaries if s.seed is not None}),
        budget=max(s.budget for s in summaries), elapsed=max(s.elapsed for s in summaries),
        interrupted=next((s.interrupted for s in summaries if s.interrupted), None),
        started=min((s.started for s in summaries), default=time.time()),
        versions=summaries[0].versions if summaries else {})
    return merged.write(out)
