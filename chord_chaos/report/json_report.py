"""Failing-run reports: ``report.json`` (everything needed to re-check or replay the run) and
``report.html`` (the same, for a person), written side by side in one directory per failure.

A report is built from a RunResult plus where it came from (scenario, seeds, Hypothesis's
reproduction blob, shrinking and replay statistics). ``chord-chaos analyze report.json``
re-checks its history; ``chord-chaos replay report.json`` runs it again.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chord_chaos.check.history import History
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import check
from chord_chaos.harness.infra.files import write_atomic
from chord_chaos.harness.infra.versions import versions
from chord_chaos.models.canvas import CanvasError, Workload, parse_workload
from chord_chaos.models.faults import FaultPlan, PlanError, parse_plan
from chord_chaos.models.guarantees import DELIVERIES
from chord_chaos.models.semantics import predict
from chord_chaos.models.vocabulary import Backend, VerdictKind
from chord_chaos.report.html_report import render_html

FORMAT = "chord-chaos-report/1"


class ReportError(ValueError):
    """A file that is not a chord-chaos report; the message says what to give instead."""


@dataclass(frozen=True)
class Origin:
    """Where a run came from: enough to find it again and to say how reproducible it is."""

    scenario: str | None = None
    campaign_seed: int | None = None
    pair_seed: int | None = None
    hypothesis_blob: str | None = None  # the @reproduce_failure(...) line, when Hypothesis gave one
    shrink: dict[str, Any] = field(default_factory=dict)  # candidates tried, runs, the final rate
    reproduction: dict[str, Any] = field(default_factory=dict)  # k of n, with a 95 % interval


def from_history(history: History, path: Path) -> RunResult:
    """A RunResult re-derived from a saved history: the model's prediction and a fresh check."""
    workload = parse_workload(history.workload)
    prediction = predict(workload)
    return RunResult(Job(str(history.meta.get("label", history.run)), workload), prediction, history,
                     check(prediction, history), path)


def build(result: RunResult, origin: Origin, report_dir: Path) -> dict[str, Any]:
    h = result.history
    report_path = report_dir / "report.json"
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "id": report_dir.name,
        "verdict": result.verdict.to_json(),
        "scenario": origin.scenario,
        "seed": {"campaign": origin.campaign_seed, "pair": origin.pair_seed},
        "hypothesis": {"reproduce_failure": origin.hypothesis_blob},
        "backend": h.backend,
        "broker": h.meta.get("broker") or "redis",
        "database": h.meta.get("database"),
        "delivery": h.delivery,
        "canvas": h.workload,
        "plan": h.faults,
        "versions": versions(),
        "prediction": result.prediction.to_json(),
        "history": h.to_json(),
        "shrink": origin.shrink,
        "reproduction": origin.reproduction,
        "replay": f"chord-chaos replay {shlex.quote(str(report_path))} --times 10",
        "rerun": (f"chord-chaos run --backend {h.meta.get('database') or h.backend}"
                  f"{_broker_flag(h)} --delivery {h.delivery}{_celery_flag(h)} --faults "
                  f"{shlex.quote(str(report_dir / 'plan.json'))} "
                  f"{shlex.quote(str(report_dir / 'canvas.json'))}"),
    }


def _broker_flag(h: History) -> str:
    """`` --broker rabbitmq`` when the run had one (replay finds it in the history)."""
    broker = h.meta.get("broker")
    return f" --broker {broker}" if broker else ""


def _celery_flag(h: History) -> str:
    """`` --celery SPEC`` when the run used ``--celery`` (replay finds it in the history)."""
    target = h.meta.get("celery")
    spec = target.get("spec") if isinstance(target, dict) else None
    return f" --celery {shlex.quote(str(spec))}" if spec else ""


def write(result: RunResult, origin: Origin, root: Path, name: str) -> Path:
    """Write report.json, report.html, canvas.json and plan.json under ``root/name``."""
    report_dir = root / name
    report_dir.mkdir(parents=True, exist_ok=True)
    report = build(result, origin, report_dir)
    write_atomic(report_dir / "canvas.json", json.dumps(report["canvas"], indent=1))
    write_atomic(report_dir / "plan.json", json.dumps(report["plan"], indent=1))
    write_atomic(report_dir / "report.json", json.dumps(report, indent=1, default=repr))
    write_atomic(report_dir / "report.html", render_html(report))
    return report_dir / "report.json"


RATE_FILE = "replay-rate.json"


def record_rate(report_path: Path, outcome: dict[str, Any], strict: bool) -> None:
    """Keep the last ``replay``'s rate beside the report (the report itself stays as the run
    wrote it): ``export`` quotes it in the issue text. A report in a read-only place keeps none."""
    import contextlib

    with contextlib.suppress(OSError):
        write_atomic(report_path.parent / RATE_FILE, json.dumps(
            {**outcome, "mode": "strict" if strict else "register",
             "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))


def replay_rate(report_path: Path) -> dict[str, Any]:
    """The rate ``record_rate`` kept, or {} (none kept, or not readable)."""
    try:
        rate = json.loads((report_path.parent / RATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return rate if isinstance(rate, dict) and isinstance(rate.get("runs"), int) else {}


@dataclass(frozen=True)
class SavedReport:
    """A report.json read back and checked: what replay relies on, typed (``raw`` is all of it)."""

    path: Path
    id: str
    workload: Workload
    plan: FaultPlan
    backend: Backend
    delivery: str
    history: History
    verdict: VerdictKind
    violated: frozenset[str]  # the checks the reported run violated
    raw: dict[str, Any]

    @property
    def broker(self) -> str:
        return str(self.history.meta.get("broker") or "redis")

    @property
    def backend_choice(self) -> str:
        """The backend as the command line names it (``postgres`` for the database on PostgreSQL)."""
        return str(self.history.meta.get("database") or self.backend)

    @property
    def chaos(self) -> bool:
        """Whether it ran on a chaos cluster (Toxiproxy, a delivery configuration)."""
        return bool(self.history.meta.get("chaos")) or bool(self.plan.faults)


def load(path: Path) -> SavedReport:
    """A report.json, checked enough that replay and analyze can rely on it; anything else is a
    one-line ReportError."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; give a report.json written by chord-chaos") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a chord-chaos report ({type(exc).__name__}); give a "
                          "report.json written by chord-chaos run or chaos") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ReportError(f"{path}: not a chord-chaos report (no \"format\": \"{FORMAT}\"); give a "
                          "report.json written by chord-chaos run or chaos")
    missing = [k for k in ("canvas", "plan", "backend", "delivery", "history", "verdict") if k not in obj]
    if missing:
        raise ReportError(f"{path}: report lacks {', '.join(missing)}; it was cut short or edited")
    try:
        history = History.from_json(obj["history"])
        verdict = VerdictKind(obj["verdict"]["verdict"])
        violated = frozenset(str(v["check"]) for v in obj["verdict"].get("violations", []))
        backend, delivery = Backend(obj["backend"]), str(obj["delivery"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"{path}: broken report ({type(exc).__name__}: {exc}); it was cut short "
                          "or edited") from None
    if delivery not in DELIVERIES:
        raise ReportError(f"{path}: unknown delivery configuration {delivery!r} in the report")
    try:
        workload = parse_workload(obj["canvas"])
        predict(workload)
        plan = parse_plan(obj["plan"], "report.plan")
    except (CanvasError, PlanError) as exc:
        raise ReportError(f"{path}: {exc}; this version of chord-chaos cannot replay it") from None
    return SavedReport(path, str(obj.get("id", path.parent.name)), workload, plan, backend, delivery,
                       history, verdict, violated, obj)
