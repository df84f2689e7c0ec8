"""Joining campaign summaries (shards on several machines, or parallel workers on one)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chord_chaos.harness.campaign import Tally, summarise
from chord_chaos.harness.history import write_atomic


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
