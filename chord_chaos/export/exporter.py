"""A report -> a directory that reproduces its failure without chord-chaos.

``tasks.py`` and ``repro.py`` (plain Celery), ``README.md`` (the commands) and ``ISSUE.md`` (the
text of an upstream issue). A report that cannot be read is a ReportError (one line); a fault
that plain tools cannot apply is a commented step, and the export still succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chord_chaos.check.known_issues import KnownIssue, explainers
from chord_chaos.check.verdict import check
from chord_chaos.export.fault_steps import fault_steps
from chord_chaos.export.issue_text import Finding, issue, readme
from chord_chaos.export.repro_code import Case, repro_py
from chord_chaos.export.tasks_code import tasks_py
from chord_chaos.harness.infra.files import write_atomic
from chord_chaos.models.guarantees import DELIVERIES, promise
from chord_chaos.models.semantics import predict
from chord_chaos.models.timeouts import CLUSTER_SETTINGS
from chord_chaos.report.json_report import ReportError, SavedReport, load, replay_rate

FILES = ("tasks.py", "repro.py", "README.md", "ISSUE.md")


@dataclass(frozen=True)
class Exported:
    out: Path
    files: tuple[Path, ...]
    notes: tuple[str, ...]  # what the reproduction cannot do, for the user to know


def _expected(report: SavedReport) -> dict[str, Any]:
    p = predict(report.workload).to_json()
    if p["status"] == "SUCCESS":
        return {"status": "SUCCESS", "value": p["value"]}
    return {"status": p["status"], "acceptable_errors": p["acceptable_errors"]}


def _observed(report: SavedReport) -> dict[str, Any]:
    c = report.history.client
    if c.status == "SUCCESS":
        return {"status": "SUCCESS", "value": c.value}
    return {"status": c.status, **({"error": c.error} if c.error else {})}


def case_of(report: SavedReport) -> Case:
    faults = fault_steps(report.plan, report.history)
    kept = promise(DELIVERIES[report.delivery], report.plan, report.broker)
    return Case(
        workload=report.workload, expected=_expected(report), observed=_observed(report),
        backend=str(report.backend), source=str(report.path), broker=report.broker,
        database=report.history.meta.get("database"), settings=dict(CLUSTER_SETTINGS),
        delivery=DELIVERIES[report.delivery].celery_settings(report.broker) if report.chaos else {},
        user_settings=dict(report.history.meta.get("settings") or {}), faults=faults,
        exceptions_allowed=not kept.exact_outcome, hang_allowed=not kept.liveness,
        replay=str(report.raw.get("replay", "chord-chaos replay report.json")))


def _install(report: SavedReport) -> str:
    target = report.history.meta.get("celery")
    if isinstance(target, dict) and target.get("path"):  # a checkout: its version names the commit
        return f"-e '{target['path']}[{{extras}}]'"
    version = str(report.raw.get("versions", {}).get("celery") or report.history.celery or "")
    return f"'celery[{{extras}}]=={version}'" if version else "'celery[{extras}]'"


def _rate(report: SavedReport) -> str:
    """The last replay's rate when one was kept, else the campaign's, else none measured."""
    replayed = replay_rate(report.path)
    r = replayed or report.raw.get("reproduction") or {}
    if r.get("runs"):
        lo, hi = r["ci95"]
        how = f"`chord-chaos replay` on {replayed['measured'][:10]}" if replayed else "chord-chaos"
        return (f"{r['reproduced']} of {r['runs']} runs under {how} (95 % interval "
                f"{lo:.0%}-{hi:.0%}).")
    return (f"Seen in the reported run; the rate was not measured (`{report.raw.get('replay', '')}` "
            "measures it).")


def finding_of(report: SavedReport) -> Finding:
    """The report's violations, checked strictly (no register excuses), and what they resemble."""
    history = replace(report.history, meta={**report.history.meta, "strict": True})
    prediction = predict(report.workload)
    violations = list(check(prediction, history).violations)
    if not violations:
        raise ReportError(f"{report.path}: the run shows no violation, even strictly checked "
                          f"(verdict {report.verdict}); there is nothing to export")
    resembles: list[KnownIssue] = []
    for k in explainers(violations, prediction, history):
        if k is not None and all(k.id != r.id for r in resembles):
            resembles.append(k)
    return Finding(tuple(violations), tuple(resembles), dict(report.raw.get("versions") or {}),
                   _install(report), _rate(report), str(report.raw.get("replay", "")))


def export(report_path: Path, out: Path | None = None) -> Exported:
    report = load(report_path)
    if report.verdict == "unknown":
        raise ReportError(f"{report_path}: the verdict is unknown (the harness itself failed); "
                          "there is no Celery behaviour to export, rerun it with chord-chaos replay")
    finding = finding_of(report)
    case = case_of(report)
    out = out or report_path.parent / "export"
    texts = {"tasks.py": tasks_py(case.ops), "repro.py": repro_py(case),
             "README.md": readme(case, finding), "ISSUE.md": issue(case, finding)}
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_atomic(out / name, text)
    notes = []
    if case.faults.commented:
        notes.append(f"{len(case.faults.commented)} fault(s) need a proxy and are commented steps in "
                     f"repro.py; chord-chaos replay applies them")
    if not finding.outcome_visible:
        notes.append("the deviation does not change get()'s outcome: repro.py cannot see it, the "
                     "worker's log shows it (README.md says so)")
    return Exported(out, tuple(out / n for n in FILES), tuple(notes))
