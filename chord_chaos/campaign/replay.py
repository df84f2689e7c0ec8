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

from chord_chaos.campaign.stats import rate
from chord_chaos.check.result import Job, RunResult
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import parse_plan


def reproduces(report: dict[str, Any], result: RunResult) -> bool:
    wanted = report["verdict"]["verdict"]
    if wanted == "unknown":
        return result.verdict.verdict == "unknown"
    if wanted != "violation" or result.verdict.verdict != "violation":
        return False
    checks = {v["check"] for v in report["verdict"]["violations"]}
    return bool(checks & {v.check for v in result.verdict.violations})


def replay_runs(report: dict[str, Any], times: int, out_dir: Path) -> Iterator[RunResult]:
    """Run the report's case ``times`` times on one cluster configured as the original was."""
    workload = parse_workload(report["canvas"])
    plan = parse_plan(report["plan"], "report.plan")
    chaos = bool(report["history"].get("meta", {}).get("chaos")) or bool(plan.faults)
    job = Job(str(report.get("id", "replay")), workload)
    with contextlib.ExitStack() as stack:
        cluster = Cluster(backend=report["backend"], delivery=report["delivery"] if chaos else None)
        stack.callback(cluster.close)
        cluster.start()
        if chaos:
            runner = ChaosRunner(cluster, out_dir)
            stack.callback(runner.close)
            for _ in range(times):
                yield runner.run(job, plan)
        else:
            plain = BatchRunner(cluster, out_dir, timeout=float(report["history"].get("timeout", 30.0)))
            for _ in range(times):
                yield from plain.run([job], batch=1)


def replay(report: dict[str, Any], times: int, out_dir: Path,
           on_run: Callable[[int, RunResult, bool], None] | None = None) -> dict[str, Any]:
    k = 0
    for i, result in enumerate(replay_runs(report, times, out_dir)):
        hit = reproduces(report, result)
        k += hit
        if on_run is not None:
            on_run(i, result, hit)
    return rate(k, times)
