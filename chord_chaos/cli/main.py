"""``chord-chaos``: predict, run and analyze canvases; chaos campaigns over scenarios.

Exit codes: 0 all passed, 1 a violation, 2 a usage or infrastructure error (one line on
stderr saying what to do), 3 a verdict of unknown (the harness itself failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from chord_chaos.cli.campaign_commands import add_campaign_commands, strict_option
from chord_chaos.cli.input import (
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    exit_for,
    exit_for_signal,
    load_file,
    load_plan,
)
from chord_chaos.cli.target import enter_target, target_options
from chord_chaos.cli.target_commands import add_target_commands
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import NO_FAULTS
from chord_chaos.models.guarantees import DEFAULT_DELIVERY, DELIVERIES
from chord_chaos.models.semantics import predict
from chord_chaos.models.vocabulary import BACKEND_CHOICES


def _cmd_predict(args: argparse.Namespace) -> int:
    workload = load_file(args.file)
    if args.python:
        from chord_chaos.models.python_code import to_python

        print(to_python(workload), end="")
        return EXIT_OK
    print(json.dumps(predict(workload).to_json(), sort_keys=False))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from chord_chaos.check.result import Job, RunResult
    from chord_chaos.harness.cluster.local import Cluster
    from chord_chaos.harness.run.batch import BatchRunner

    jobs = [Job(f, load_file(f)) for f in args.files]  # all input checked before any start
    plan = load_plan(args.faults) if args.faults else None
    enter_target(args)  # after: a bad file is refused before any environment is built
    delivery = args.delivery or (DEFAULT_DELIVERY if plan else None)
    if args.delivery:
        from chord_chaos.cli.config_option import check_delivery

        check_delivery(args.delivery)  # --config's task_acks_late must not silently override it
    worst = EXIT_OK
    with contextlib.ExitStack() as stack:
        cluster = Cluster(backend=args.backend, nodes=args.nodes, concurrency=args.concurrency,
                          database_url=args.database_url, delivery=delivery)
        stack.callback(cluster.close)
        cluster.start()
        results: Iterable[RunResult]
        if delivery is None:
            results = BatchRunner(cluster, Path(args.report_dir), timeout=args.timeout,
                                  strict=args.strict).run(jobs)
        else:
            from chord_chaos.harness.run.chaos import ChaosRunner

            chaos = ChaosRunner(cluster, Path(args.report_dir), strict=args.strict)
            stack.callback(chaos.close)  # ends the nemesis thread (its restarted workers die with it)
            results = (chaos.run(job, plan or NO_FAULTS) for job in jobs)
        for result in results:
            line = result.to_json()
            if result.verdict.verdict != "pass":
                from chord_chaos.report.json_report import Origin, write

                line["report"] = str(write(result, Origin(), Path(args.report_dir),
                                           f"run-{result.history.run}"))
            print(json.dumps(line, default=repr), flush=True)
            worst = max(worst, exit_for(result.verdict.verdict))
    return worst


def _cmd_analyze(args: argparse.Namespace) -> int:
    from chord_chaos.check.history import History
    from chord_chaos.check.verdict import check

    try:
        obj: Any = json.loads(Path(args.file).read_text(encoding="utf-8"))
        if "history" in obj and isinstance(obj["history"], dict):
            obj = obj["history"]
        history = History.from_json(obj)
        workload = parse_workload(history.workload)
    except FileNotFoundError:
        raise UsageError(f"{args.file}: no such file; give a history-*.json file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{args.file}: not a chord-chaos history ({exc.__class__.__name__}: "
                         f"{exc}); give a history-*.json written by chord-chaos run") from None
    if args.strict is not None:
        from dataclasses import replace

        history = replace(history, meta={**history.meta, "strict": args.strict})
    verdict = check(predict(workload), history)
    print(json.dumps({"file": args.file, "run": history.run, **verdict.to_json()}))
    return exit_for(verdict.verdict)


def _cmd_export(args: argparse.Namespace) -> int:
    from chord_chaos.export.exporter import export
    from chord_chaos.report.json_report import ReportError

    try:
        done = export(Path(args.report), Path(args.out) if args.out else None)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the export: {exc}; give a writable --out DIR") from None
    for note in done.notes:
        print(f"chord-chaos: note: {note}", file=sys.stderr)
    print(json.dumps({"export": str(done.out), "files": [p.name for p in done.files]}))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chord-chaos", description="Check Celery canvases against a reference model.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="print the model's prediction for a canvas file")
    p.add_argument("file")
    p.add_argument("--python", action="store_true",
                   help="print the canvas as the Celery Python code that builds it instead")
    p.set_defaults(func=_cmd_predict)

    r = sub.add_parser("run", help="run canvas files on a real cluster and check them")
    r.add_argument("files", nargs="+", metavar="FILE")
    r.add_argument("--backend", choices=list(BACKEND_CHOICES), default="redis",
                   help="redis, database (SQLite, or --database-url) or postgres (a PostgreSQL "
                        "server the harness starts); default redis")
    r.add_argument("--timeout", type=float, default=30.0,
                   help="seconds each result may take to resolve (default 30)")
    r.add_argument("--nodes", type=int, default=2, help="worker nodes (default 2)")
    r.add_argument("--concurrency", type=int, default=2, help="pool size per node (default 2)")
    r.add_argument("--database-url", default=None,
                   help="SQLAlchemy URL for --backend database (default: an SQLite file)")
    r.add_argument("--report-dir", default="reports",
                   help="histories, and a report directory per failing run (default reports/)")
    r.add_argument("--faults", metavar="PLAN", default=None,
                   help="a fault plan JSON file to apply to each run (a chaos cluster with Toxiproxy)")
    r.add_argument("--delivery", choices=list(DELIVERIES), default=None,
                   help=f"delivery configuration of a chaos cluster (default {DEFAULT_DELIVERY} "
                        "with --faults; without both, a plain cluster)")
    strict_option(r)
    target_options(r)
    r.set_defaults(func=_cmd_run)

    add_campaign_commands(sub)
    add_target_commands(sub)

    e = sub.add_parser("export", help="write a report's failure as a plain-Celery reproduction and "
                                      "an issue text (tasks.py, repro.py, README.md, ISSUE.md)")
    e.add_argument("report", metavar="REPORT", help="a report.json written by run, chaos or fuzz")
    e.add_argument("--out", metavar="DIR", default=None,
                   help="where to write the files (default: export/ beside the report)")
    e.set_defaults(func=_cmd_export)

    a = sub.add_parser("analyze", help="re-check a saved history or report without a cluster")
    a.add_argument("file")
    strict_option(a, "(default: the history's own mode)")
    a.set_defaults(func=_cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Ctrl-C and SIGTERM raise ``Interrupted`` anywhere inside, the reporting of it included."""
    from chord_chaos.harness.infra.supervisor import signals_interrupt

    args = build_parser().parse_args(argv)
    with signals_interrupt():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from chord_chaos.harness.infra.errors import HarnessError
    from chord_chaos.harness.infra.supervisor import signal_name

    try:
        code: int = args.func(args)
    except (UsageError, HarnessError) as exc:
        print(f"chord-chaos: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as stop:
        print("chord-chaos: interrupted; every process started was stopped", file=sys.stderr)
        return exit_for_signal(signal_name(stop))
    return code


if __name__ == "__main__":
    sys.exit(main())
