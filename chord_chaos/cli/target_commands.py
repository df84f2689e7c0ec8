"""The commands that compare Celerys: ``matrix`` (canvases x releases) and ``bisect``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from chord_chaos.cli.campaign_commands import strict_option
from chord_chaos.cli.input import (
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    UsageError,
    exit_for_signal,
    load_file,
)
from chord_chaos.models.vocabulary import BACKENDS


def add_target_commands(sub: Any) -> None:
    m = sub.add_parser("matrix", help="run canvas files on several Celerys: a verdict per canvas and release")
    m.add_argument("files", nargs="+", metavar="FILE")
    m.add_argument("--celery", action="append", required=True, metavar="SPEC",
                   help="a Celery to run them on (repeat: --celery 5.3.6 --celery 5.7.0); a release, "
                        "a pip requirement or a checkout's path")
    m.add_argument("--backend", action="append", default=None, choices=[str(b) for b in BACKENDS],
                   help="result backend (repeatable; default redis)")
    m.add_argument("--timeout", type=float, default=30.0, help="seconds each result may take (default 30)")
    m.add_argument("--config", default=None, metavar="FILE", help="Celery settings for every column")
    m.add_argument("--report-dir", default="reports/matrix",
                   help="matrix.json, and each column's histories and reports (default reports/matrix/)")
    strict_option(m)
    m.set_defaults(func=cmd_matrix)

    b = sub.add_parser("bisect", help="find the release between a good and a bad one where a canvas's "
                                      "verdict flips")
    b.add_argument("file", metavar="FILE")
    b.add_argument("--good", required=True, metavar="V", help="a release where the canvas passes")
    b.add_argument("--bad", required=True, metavar="V", help="a release where it fails")
    b.add_argument("--backend", choices=[str(x) for x in BACKENDS], default="redis")
    b.add_argument("--times", type=int, default=3, help="runs per release (default 3; more for a flaky case)")
    b.add_argument("--timeout", type=float, default=30.0, help="seconds each result may take (default 30)")
    b.add_argument("--config", default=None, metavar="FILE", help="Celery settings for every step")
    b.add_argument("--report-dir", default="reports/bisect", help="each step's histories and reports")
    strict_option(b)
    b.set_defaults(func=cmd_bisect)


def _announce(line: str) -> None:
    print(f"chord-chaos: {line}", file=sys.stderr, flush=True)


def _inputs(files: list[str], config: str | None) -> None:
    """Bad input is refused before any environment is built or cluster started."""
    for f in files:
        load_file(f)
    if config and not Path(config).is_file():
        raise UsageError(f"{config}: no such file; give a Celery settings module (.py) or JSON file")


def _errors() -> tuple[type[Exception], ...]:
    from chord_chaos.campaign.bisect import BisectError
    from chord_chaos.target.environment import EnvironmentError_
    from chord_chaos.target.index import IndexError_
    from chord_chaos.target.spec import SpecError

    return SpecError, EnvironmentError_, IndexError_, BisectError


def cmd_matrix(args: argparse.Namespace) -> int:
    from chord_chaos.campaign.matrix import Column, run_matrix
    from chord_chaos.campaign.target_runs import Outcome, prepare

    _inputs(args.files, args.config)
    backends = list(dict.fromkeys(args.backend or ["redis"]))
    try:
        targets = [prepare(spec, _announce) for spec in dict.fromkeys(args.celery)]
    except _errors() as exc:
        raise UsageError(str(exc)) from None

    def on_column(column: Column, outcomes: list[Outcome]) -> None:
        kinds = ("pass", "known", "violation", "unknown", "error")
        tally = {c: sum(o.cell == c for o in outcomes) for c in kinds}
        _announce(f"Celery {column.name}: " + ", ".join(f"{n} {c}" for c, n in tally.items() if n))

    out = Path(args.report_dir)
    matrix = run_matrix(args.files, targets, backends, args.timeout, out, args.config, bool(args.strict),
                        on_column)
    print(matrix.table())
    if any(matrix.flips(f) for f in args.files):
        print("* the verdict differs from the column on its left")
    print(f"matrix: {out / 'matrix.json'} ({matrix.elapsed:.0f} s)")
    if matrix.interrupted:
        print(f"chord-chaos: interrupted ({matrix.interrupted}); every process started was stopped, "
              "matrix.json holds the columns that finished", file=sys.stderr)
        return exit_for_signal(matrix.interrupted)
    cells = {o.cell for o in matrix.cells.values()}
    if "violation" in cells:
        return EXIT_VIOLATION
    return EXIT_UNKNOWN if cells & {"unknown", "error"} else EXIT_OK


def cmd_bisect(args: argparse.Namespace) -> int:
    from chord_chaos.campaign.bisect import Step, bisect
    from chord_chaos.harness.infra.supervisor import signal_name

    _inputs([args.file], args.config)
    if args.times < 1:
        raise UsageError(f"--times must be at least 1, got {args.times}")

    def on_step(step: Step) -> None:
        print(step.line(), flush=True)

    try:
        found = bisect(args.file, args.good, args.bad, args.backend, args.times, args.timeout,
                       Path(args.report_dir), _announce, on_step, args.config, bool(args.strict))
    except _errors() as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt as stop:
        print("chord-chaos: interrupted; every process started was stopped", file=sys.stderr)
        return exit_for_signal(signal_name(stop))
    flip = (f"first bad release: {found.first_bad} (last good: {found.last_good})" if found.regression
            else f"first good release: {found.last_good} (last bad: {found.first_bad})")
    print(flip)
    run = f"chord-chaos run {shlex.quote(args.file)} --backend {args.backend}"
    print(f"see it:  {run} --celery {found.first_bad}\n         {run} --celery {found.last_good}")
    report = next((s.report for s in found.steps if s.release == found.first_bad and s.report), None)
    if report:
        print(f"report:  {report}\nreplay:  chord-chaos replay {shlex.quote(report)} --times 10")
    Path(args.report_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.report_dir) / "bisect.json").write_text(json.dumps({
        "file": args.file, "good": found.good, "bad": found.bad, "candidates": found.candidates,
        "last_good": found.last_good, "first_bad": found.first_bad,
        "steps": [{"release": s.release, "reproduced": s.reproduced, "runs": len(s.outcomes),
                   "report": s.report} for s in found.steps]}, indent=1), encoding="utf-8")
    return EXIT_OK
