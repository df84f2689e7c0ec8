"""Campaign tallies and summaries: one Tally per (scenario, backend, delivery), summed into
``summary.json``; summaries of shards or parallel workers merge into one."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from chord_chaos.check.result import RunResult
from chord_chaos.harness.infra.files import write_atomic


@dataclass
class Tally:
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
    seconds: float = 0.0
    anomaly_properties: Counter[str] = field(default_factory=Counter)
    known_issues: Counter[str] = field(default_factory=Counter)

    def add(self, result: RunResult, seconds: float, shrinking: bool) -> None:
        v = result.verdict
        self.runs += 1
        self.shrink_runs += shrinking
        self.seconds += seconds
        self.faults += sum(1 for r in result.history.nemesis if r.get("applied") is not None
                           and not r.get("error"))
        self.passed += v.verdict == "pass"
        self.violations += v.verdict == "violation" and not shrinking
        self.unknown += v.verdict == "unknown"
        self.known += bool(v.known)
        self.anomalies += bool(v.anomalies)
        self.anomaly_properties.update(prop for prop, _ in v.anomalies)
        self.known_issues.update(k for k, _ in v.known)

    # summary name -> attribute, for every counter that adds up across runs, shards and workers
    COUNTERS: ClassVar[dict[str, str]] = {"runs": "runs", "shrink_runs": "shrink_runs", "faults": "faults",
                "passed": "passed", "violations": "violations", "known_issue_runs": "known",
                "anomaly_runs": "anomalies", "unknown": "unknown"}

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, attr) for name, attr in self.COUNTERS.items()}

    def absorb(self, other: Tally) -> None:
        """Add another tally of the same pair (a shard's, a worker's)."""
        for attr in (*self.COUNTERS.values(), "seconds"):
            setattr(self, attr, getattr(self, attr) + getattr(other, attr))
        self.anomaly_properties.update(other.anomaly_properties)
        self.known_issues.update(other.known_issues)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "backend": self.backend, "delivery": self.delivery,
                **self.counts(), "seconds": round(self.seconds, 1),
                "anomalies": dict(sorted(self.anomaly_properties.items())),
                "known_issues": dict(sorted(self.known_issues.items()))}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Tally:
        t = Tally(obj["scenario"], obj["backend"], obj["delivery"], seconds=obj.get("seconds", 0.0),
                  anomaly_properties=Counter(obj.get("anomalies", {})),
                  known_issues=Counter(obj.get("known_issues", {})))
        for name, attr in Tally.COUNTERS.items():
            setattr(t, attr, obj.get(name, 0))
        return t


def summarise(tallies: list[Tally], failures: list[dict[str, Any]]) -> dict[str, Any]:
    totals = Counter[str]()
    for t in tallies:
        totals.update(t.counts())
    return {"totals": dict(totals), "scenarios": [t.to_json() for t in tallies], "failures": failures}


def merge_summaries(summaries: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Sum the tallies of the same (scenario, backend, delivery), keep every failure, write
    ``out/summary.json``."""
    tallies: dict[tuple[str, str, str], Tally] = {}
    failures: list[dict[str, Any]] = []
    for s in summaries:
        for obj in s["scenarios"]:
            t = Tally.from_json(obj)
            key = (t.scenario, t.backend, t.delivery)
            if key not in tallies:
                tallies[key] = t
                continue
            tallies[key].absorb(t)
        failures += s["failures"]
    merged = summarise(list(tallies.values()), failures)
    seeds = sorted({s["seed"] for s in summaries if s.get("seed") is not None})
    merged.update({"merged_from": len(summaries), "seeds": seeds,
                   "budget": max(s.get("budget", 0) for s in summaries),
                   "elapsed": max(s.get("elapsed", 0) for s in summaries),
                   "interrupted": any(s.get("interrupted") for s in summaries),
                   "started": min(s.get("started", time.time()) for s in summaries),
                   "versions": summaries[0].get("versions", {})})
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    write_atomic(path, json.dumps(merged, indent=1))
    merged["path"] = str(path)
    return merged
