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
from chord_chaos.check.result import RunResult
from chord_chaos.harness.infra.files import write_atomic
from chord_chaos.harness.infra.versions import versions
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
    from chord_chaos.check.result import Job
    from chord_chaos.check.verdict import check
    from chord_chaos.models.canvas import parse_workload
    from chord_chaos.models.semantics import predict

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
        "delivery": h.delivery,
        "canvas": h.workload,
        "plan": h.faults,
        "versions": versions(),
        "prediction": result.prediction.to_json(),
        "history": h.to_json(),
        "shrink": origin.shrink,
        "reproduction": origin.reproduction,
        "replay": f"chord-chaos replay {shlex.quote(str(report_path))} --times 10",
        "rerun": (f"chord-chaos run --backend {h.backend} --delivery {h.delivery} --faults "
                  f"{shlex.quote(str(report_dir / 'plan.json'))} "
                  f"{shlex.quote(str(report_dir / 'canvas.json'))}"),
    }


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


def load(path: Path) -> dict[str, Any]:
    """A report.json, checked enough that replay and analyze can rely on it."""
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
    missing = [k for k in ("canvas", "plan", "backend", "delivery", "history") if k not in obj]
    if missing:
        raise ReportError(f"{path}: report lacks {', '.join(missing)}; it was cut short or edited")
    History.from_json(obj["history"])  # raises KeyError/ValueError on a broken history
    return obj
