"""Does each known issue still reproduce? Reruns every register entry's minimal case.

A Celery upgrade that fixes a bug should be noticed: an entry whose minimal case no longer
shows the issue is reported (never silently dropped). Entries marked flaky reproduce only at
times, so missing them in a few runs is expected and said so.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.version import Version

from chord_chaos.campaign.campaign import broker_in_use
from chord_chaos.check.known_issues import REGISTER, KnownIssue
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import check
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.infra.errors import HarnessError
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


GROUPS_AT_ONCE = 5  # clusters at once (all five today): they mostly wait on hangs and recovery


DETERMINISTIC_VAR = "CC_REGISTER_DETERMINISTIC"  # --deterministic, for the child processes too


def not_run(k: KnownIssue) -> str | None:
    """Why this check leaves an entry out, or None: a transport's own bug runs only on its
    broker; with --deterministic, a flaky entry (one run at a time tells nothing of it)."""
    if broker_in_use() not in k.brokers:
        return f"not checked on the {broker_in_use()} broker (a bug of another transport)"
    if k.flaky and os.environ.get(DETERMINISTIC_VAR):
        return "flaky: not run here; 'chord-chaos known-issues --check --times 10' runs it"
    return None


def _groups() -> list[list[KnownIssue]]:
    """The entries to run, by cluster configuration."""
    groups: dict[tuple[str, str | None], list[KnownIssue]] = {}
    for k in REGISTER:
        if not_run(k) is None:
            groups.setdefault((k.backend, k.delivery), []).append(k)
    return list(groups.values())


def check_register(times: int, out: Path, at_once: int = GROUPS_AT_ONCE) -> list[dict[str, Any]]:
    """Each cluster configuration's entries on one cluster; ``at_once`` configurations at a time,
    each in a child process of its own (its own cluster and process group)."""
    groups = _groups()
    shown: dict[str, int] = {}
    if at_once <= 1:
        for i in range(len(groups)):
            shown |= _shown(i, times, out)
    else:
        shown = _in_children(len(groups), times, out, at_once)
    installed = celery_under_test()["version"]
    return [{"id": k.id, "backend": k.backend, "broker": broker_in_use(),
             "celery_versions": k.celery_versions, "link": k.link, "installed_celery": installed,
             "version_listed": k.verified(installed),
             "flaky": k.flaky, "runs": times, "reproduced": shown.get(k.id, 0),
             "not_run": not_run(k)}
            for k in REGISTER]


def _shown(group: int, times: int, out: Path) -> dict[str, int]:
    """Entry id -> in how many of its runs its mechanism showed, for one group."""
    entries = _groups()[group]
    found = _runs(entries, times, out)
    return {k.id: sum(shows(k, r) for r in found[k.id]) for k in entries}


def _in_children(n: int, times: int, out: Path, at_once: int) -> dict[str, int]:
    """``python -m chord_chaos.campaign.register`` per group, ``at_once`` at a time. Ctrl-C here
    is passed on to each child, which stops its cluster."""
    from chord_chaos.campaign.target_runs import stop

    shown: dict[str, int] = {}
    pending = list(range(n))
    running: list[subprocess.Popen[str]] = []
    try:
        while pending or running:
            while pending and len(running) < at_once:
                argv = [sys.executable, "-m", "chord_chaos.campaign.register", str(pending.pop(0)),
                        str(times), str(out)]
                running.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                                start_new_session=True))
            child = running[0]
            stdout, _ = child.communicate()
            running.pop(0)
            if child.returncode != 0:
                raise HarnessError(f"checking a register group failed (exit {child.returncode}); "
                                   "see the lines above")
            shown |= json.loads(stdout.strip().splitlines()[-1])
    except KeyboardInterrupt:
        for child in running:
            stop(child)
        raise
    return shown


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


if __name__ == "__main__":  # one group, for check_register: GROUP TIMES OUT; prints its counts
    from chord_chaos.harness.infra.supervisor import signals_interrupt

    with signals_interrupt():
        try:
            print(json.dumps(_shown(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))))
        except KeyboardInterrupt:
            sys.exit(130)
