"""Replaying a report: the same canvas, fault plan, backend and delivery configuration, N times.

A real cluster is not deterministic, so a replay does not say "fixed" or "still broken"; it
says how often the failure came back (k of N, with a 95 % Wilson interval). A replay
reproduces the failure when its verdict is the report's (a violation sharing a violated check
with the report's, or unknown again for an unknown report).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chord_chaos.campaign.campaign import broker_in_use
from chord_chaos.campaign.stats import rate
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.vocabulary import VerdictKind
from chord_chaos.report.json_report import SavedReport


def reproduces(report: SavedReport, result: RunResult) -> bool:
    if report.verdict == VerdictKind.UNKNOWN:
        return result.verdict.verdict == VerdictKind.UNKNOWN
    if report.verdict != VerdictKind.VIOLATION or result.verdict.verdict != VerdictKind.VIOLATION:
        return False
    return bool(report.violated & {v.check for v in result.verdict.violations})


def replay_runs(report: SavedReport, times: int, out_dir: Path, strict: bool = False) -> Iterator[RunResult]:
    """Run the report's case ``times`` times on one cluster configured as the original was,
    checked strictly (no known-issue excuses) when asked."""
    job = Job(report.id, report.workload)
    with contextlib.ExitStack() as stack:
        cluster = Cluster(backend=report.backend_choice, delivery=report.delivery if report.chaos else None,
                          broker=broker_in_use(report.broker))  # --broker, or the run's
        stack.callback(cluster.close)
        cluster.start()
        if report.chaos:
            runner = ChaosRunner(cluster, out_dir, strict=strict)
            stack.callback(runner.close)
            for _ in range(times):
                yield runner.run(job, report.plan)
        else:
            plain = BatchRunner(cluster, out_dir, timeout=report.history.timeout, strict=strict)
            for _ in range(times):
                yield from plain.run([job], batch=1)


def replay(report: SavedReport, times: int, out_dir: Path,
           on_run: Callable[[int, RunResult, bool], None] | None = None,
           strict: bool = False) -> dict[str, Any]:
    k = 0
    for i, result in enumerate(replay_runs(report, times, out_dir, strict)):
        hit = reproduces(report, result)
        k += hit
        if on_run is not None:
            on_run(i, result, hit)
    return rate(k, times)
