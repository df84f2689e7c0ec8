"""Does each known issue still reproduce? Reruns every register entry's minimal case.

A Celery upgrade that fixes a bug should be noticed: an entry whose minimal case no longer
shows the issue is reported (never silently dropped). Entries marked flaky reproduce only at
times, so missing them in a few runs is expected and said so.
"""

from __future__ import annotations

import ast
import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.version import Version

from chord_chaos.check.known_issues import REGISTER, KnownIssue
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import check
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.versions import celery_under_test
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.harness.run.chaos import ChaosRunner
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import parse_plan


def _runs(entries: list[KnownIssue], times: int, out: Path) -> dict[str, list[RunResult]]:
    """All entries that share a cluster configuration run on one cluster."""
    first = entries[0]
    results: dict[str, list[RunResult]] = {k.id: [] for k in entries}
    with contextlib.ExitStack() as stack:
        cluster = Cluster(backend=first.backend, delivery=first.delivery)
        stack.callback(cluster.close)
        cluster.start()
        if first.delivery is None:
            jobs = [Job(k.id, parse_workload(k.minimal_canvas)) for k in entries for _ in range(times)]
            for result in BatchRunner(cluster, out, timeout=10.0).run(jobs):
                results[result.job.label].append(result)
        else:
            runner = ChaosRunner(cluster, out)
            stack.callback(runner.close)
            for k in entries:
                plan = parse_plan(k.plan or {"faults": []}, f"{k.id}.plan")
                for _ in range(times):
                    results[k.id].append(runner.run(Job(k.id, parse_workload(k.minimal_canvas)), plan))
    return results


def check_register(times: int, out: Path) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str | None], list[KnownIssue]] = {}
    for k in REGISTER:
        groups.setdefault((k.backend, k.delivery), []).append(k)
    found: dict[str, list[RunResult]] = {}
    for entries in groups.values():
        found.update(_runs(entries, times, out))
    installed = celery_under_test()["version"]
    return [{"id": k.id, "backend": k.backend, "celery_versions": k.celery_versions, "link": k.link,
             "installed_celery": installed, "version_listed": k.verified(installed),
             "flaky": k.flaky, "runs": times,
             "reproduced": sum(shows(k, r) for r in found[k.id])}
            for k in REGISTER]


def shows(entry: KnownIssue, result: RunResult) -> bool:
    """Whether the run shows the entry's mechanism: its explainer accounts for one of the run's
    violations, checked strictly, whatever release ran it (what verifies a new release)."""
    h = result.history
    strict = check(result.prediction, replace(h, meta={**h.meta, "strict": True}))
    return any(entry.explains(list(strict.violations), result.prediction, h))


def record_verified(results: list[dict[str, Any]], release: str, module: Path | None = None) -> list[str]:
    """Add ``release`` to the verified releases of every entry that reproduced on it, by
    rewriting ``check/verified_releases.py``; the ids it added. Nothing is ever removed."""
    import chord_chaos.check.verified_releases as data

    path = module or Path(data.__file__)
    text = path.read_text(encoding="utf-8")
    assigned = next(n for n in ast.parse(text).body if isinstance(n, ast.AnnAssign)
                    and isinstance(n.target, ast.Name) and n.target.id == "VERIFIED_RELEASES")
    assert assigned.value is not None
    table = {k: list(v) for k, v in ast.literal_eval(assigned.value).items()}
    added = [r["id"] for r in results if r["reproduced"] and release not in table.get(r["id"], [])]
    for entry in added:
        table.setdefault(entry, []).append(release)
    head = text[: text.index("VERIFIED_RELEASES")]
    rows = "".join(f"    {json.dumps(k)}: {_tuple(sorted(vs, key=Version))},\n" for k, vs in table.items())
    path.write_text(f"{head}VERIFIED_RELEASES: dict[str, tuple[str, ...]] = {{\n{rows}}}\n",
                    encoding="utf-8")
    return added


def _tuple(items: list[str]) -> str:
    return f"({', '.join(map(json.dumps, items))}{',' if len(items) == 1 else ''})"
