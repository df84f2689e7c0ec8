"""The campaign commands: ``chaos``, ``fuzz``, ``scenarios``, ``replay``, ``merge`` and ``known-issues``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chord_chaos.campaign.summary import Summary
from chord_chaos.cli.input import (
    EXIT_OK,
    EXIT_SELF_CHECK,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    UsageError,
    exit_for_signal,
)
from chord_chaos.cli.target import enter_target, report_celery, target_options
from chord_chaos.models.vocabulary import BACKEND_CHOICES, BACKENDS, BROKERS

PLAIN_PROGRESS = "CC_PLAIN_PROGRESS"  # set for shard children: one line per run, no live table


def add_campaign_commands(sub: Any) -> None:
    c = sub.add_parser("chaos", help="run a chaos campaign over scenarios within a time budget")
    c.add_argument("--budget", type=float, default=600.0, help="seconds (default 600)")
    c.add_argument("--scenario", action="append", default=None, metavar="NAME",
                   help="a scenario to run (repeatable; default all, see 'chord-chaos scenarios')")
    c.add_argument("--backend", action="append", default=None, metavar="NAME",
                   help="redis, database or postgres (repeatable; default each scenario's own)")
    c.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    _drawing_options(c, "reports", ".hypothesis/chaos", "case")
    c.add_argument("--shard", default=None, metavar="I/N",
                   help="run only the I-th of N slices of the (scenario, backend) pairs")
    c.add_argument("--workers", type=int, default=1,
                   help="isolated clusters at once, each a process with its own share (default 1)")
    c.add_argument("--compose", action="store_true",
                   help="run on docker-compose.yml's containers (inside its runner service): the "
                        "scenarios of the workers' delivery configuration and backend only")
    c.add_argument("--fail-on", choices=["unknown", "violation"], default="unknown",
                   help="exit non-zero on a violation or an unknown run (default), or on a "
                        "violation only (unknown runs are still reported)")
    _min_landing_option(c)
    strict_option(c)
    target_options(c)
    c.set_defaults(func=cmd_chaos)

    f = sub.add_parser("fuzz", help="check generated canvases on real workers, no faults, within a budget")
    f.add_argument("--budget", type=float, default=60.0, help="seconds (default 60)")
    f.add_argument("--backend", action="append", default=None, choices=list(BACKEND_CHOICES),
                   help="redis, database or postgres (repeatable; default redis and database, "
                        "each an equal share)")
    f.add_argument("--seed", type=int, default=0,
                   help="seed (default 0): the same seed draws the same canvases")
    _drawing_options(f, "reports/fuzz", ".hypothesis/fuzz", "batch")
    f.add_argument("--workers", type=int, default=1,
                   help="isolated clusters at once, each a process fuzzing its own seed (default 1)")
    f.add_argument("--shard", default=None, metavar="I/N", help=argparse.SUPPRESS)
    strict_option(f)
    target_options(f)
    f.set_defaults(func=cmd_fuzz)

    s = sub.add_parser("scenarios", help="list the chaos scenarios, one line each")
    s.set_defaults(func=cmd_scenarios)

    r = sub.add_parser("replay", help="rerun a report's case N times and print the reproduction rate")
    r.add_argument("report", metavar="REPORT", help="a report.json written by run or chaos")
    r.add_argument("--times", type=int, default=10, help="runs (default 10)")
    r.add_argument("--report-dir", default="reports/replays", help="histories of the replays")
    strict_option(r, "(default: the report's own mode)")
    target_options(r, "the report's Celery")
    r.set_defaults(func=cmd_replay)

    m = sub.add_parser("merge", help="join the summaries of sharded or parallel campaigns")
    m.add_argument("summaries", nargs="+", metavar="SUMMARY",
                   help="summary.json files, or directories holding one")
    m.add_argument("--out", default="reports/merged", help="where the merged summary.json goes")
    m.add_argument("--junit", default=None, metavar="FILE", help="also write JUnit XML here")
    _min_landing_option(m)
    m.set_defaults(func=cmd_merge)

    k = sub.add_parser("known-issues", help="list the known-issues register; --check reruns each")
    k.add_argument("--check", action="store_true",
                   help="rerun every entry's minimal case and say whether it still reproduces")
    k.add_argument("--times", type=int, default=2, help="runs per entry with --check (default 2)")
    k.add_argument("--json", default=None, metavar="FILE", help="write the check's results here")
    k.add_argument("--junit", default=None, metavar="FILE", help="write the check as JUnit XML")
    k.add_argument("--report-dir", default="reports/known-issues", help="histories of the check")
    k.add_argument("--deterministic", action="store_true",
                   help="with --check: leave out the flaky entries (the gate's quick check; a "
                        "run or two tells nothing of them)")
    k.add_argument("--record", action="store_true",
                   help="with --check: add the Celery checked to the verified releases of every "
                        "entry that reproduced (chord_chaos/check/verified_releases.py)")
    target_options(k)
    k.set_defaults(func=cmd_known_issues)


def _drawing_options(parser: Any, reports: str, database: str, draw: str) -> None:
    """Where results go and how failures are drawn and shrunk: shared by chaos and fuzz."""
    parser.add_argument("--report-dir", default=reports,
                        help=f"histories, failure reports and summary.json (default {reports}/)")
    parser.add_argument("--shrink-budget", type=float, default=60.0,
                        help=f"seconds spent minimising each failure (default 60; 0 keeps the first {draw})")
    parser.add_argument("--database", default=database,
                        help="Hypothesis example database: known failures are drawn first "
                             f"(default {database}; 'none' for a fixed-seed run)")
    parser.add_argument("--junit", default=None, metavar="FILE", help="also write JUnit XML here")


def _min_landing_option(parser: Any) -> None:
    parser.add_argument("--min-landing", type=float, default=0.0, metavar="FRACTION",
                        help="self-check: exit 4 when fewer than this share of process faults hit a "
                             "task in flight, or a 'mid-' scenario lands in under 95%% of its runs "
                             "(default 0: reported only; the gate uses 0.8)")


def strict_option(parser: Any, default: str = "") -> None:
    parser.add_argument("--strict", action="store_true", default=None,
                        help="no known-issue excuses: every deviation from the model is a violation "
                             f"(what a maintainer fixing a registered bug runs) {default}".rstrip())


def parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 1, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: I must be from 1 to N")
    return i, n


def _exit_for_summary(summary: Summary, fail_on: str = "unknown") -> int:
    totals = summary.totals()
    if totals.get("violations"):
        return EXIT_VIOLATION
    return EXIT_UNKNOWN if totals.get("unknown") and fail_on == "unknown" else EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    """Each scenario with the backends it runs on per broker (postgres only when asked for)."""
    from chord_chaos.scenarios.registry import pairs_of, registry

    known = registry()
    width = max(map(len, known))
    print(f"{'scenario':<{width}}  {'delivery':<16} {'redis broker':<24} {'rabbitmq broker':<24} summary")
    for s in known.values():
        where = ["/".join(pairs_of(s, b)) or "-" for b in BROKERS]
        print(f"{s.name:<{width}}  {s.delivery:<16} {where[0]:<24} {where[1]:<24} {s.summary}")
    return EXIT_OK


def cmd_chaos(args: argparse.Namespace) -> int:
    if args.compose and getattr(args, "config", None):
        raise UsageError("--config does not reach docker-compose's workers (their settings are "
                         "the image's); drop --compose or --config")
    enter_target(args)
    from chord_chaos.campaign.campaign import broker_in_use
    from chord_chaos.scenarios.registry import ScenarioError, select

    try:
        pairs = select(args.scenario, args.backend, broker_in_use())
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    shard, shards = _budget_workers_shard(args)
    if args.workers > 1:
        return _parallel(args, shard, shards)
    pairs = [p for i, p in enumerate(pairs) if i % shards == shard - 1]
    if not pairs:
        raise UsageError(f"shard {shard}/{shards} has no (scenario, backend) pair; use fewer shards")
    if args.compose:
        pairs = _compose_pairs(pairs)
    return _campaign(args, pairs)


def _compose_pairs(pairs: list[Any]) -> list[Any]:
    """Containers have one delivery configuration and one backend, and the nemesis restarts only
    Redis containers: keep the scenarios that fit."""
    from chord_chaos.harness.cluster.compose import compose_backend

    delivery = os.environ.get("CC_DELIVERY", "acks-late")
    backend = compose_backend()
    fitting = [(s, b) for s, b in pairs if s.delivery == delivery and b == backend and not s.restarts]
    skipped = sorted({f"{s.name}/{b}" for s, b in pairs} - {f"{s.name}/{b}" for s, b in fitting})
    if skipped:
        print(f"chord-chaos: compose mode runs {delivery} on {backend} only; skipping "
              f"{', '.join(skipped)}", file=sys.stderr)
    if not fitting:
        raise UsageError(f"no selected scenario uses {delivery} on {backend}, as the compose "
                         "workers do; pick others or change CC_DELIVERY/CC_BACKEND_URL")
    return fitting


def _campaign(args: argparse.Namespace, pairs: list[Any]) -> int:
    from chord_chaos.campaign.campaign import Campaign
    from chord_chaos.cli.progress import Progress

    report_dir = Path(args.report_dir)
    database = None if args.database == "none" else Path(args.database)
    with Progress(args.budget, plain=bool(os.environ.get(PLAIN_PROGRESS))) as progress:
        campaign = Campaign(pairs, args.budget, args.seed, report_dir, on_run=progress.on_run,
                            shrink_budget=args.shrink_budget, database=database,
                            strict=bool(args.strict))
        if args.compose:
            from chord_chaos.harness.cluster.compose import ComposeCluster

            campaign.factory = lambda backend, delivery: ComposeCluster(delivery).start()
        summary = campaign.run()
    return _finish(summary, f"chord-chaos campaign, seed {args.seed}{_mode(args)}", args.junit,
                   args.fail_on, args.min_landing)


def _mode(args: argparse.Namespace) -> str:
    return ", strict (no known-issue excuses)" if args.strict else ""


def _budget_workers_shard(args: argparse.Namespace) -> tuple[int, int]:
    """Check --budget and --workers; the shard (I, N) of --shard."""
    if args.budget <= 0:
        raise UsageError(f"--budget must be a positive number of seconds, got {args.budget:g}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    return parse_shard(args.shard)


def cmd_fuzz(args: argparse.Namespace) -> int:
    enter_target(args)
    shard, shards = _budget_workers_shard(args)
    if args.workers > 1:
        return _parallel(args, shard, shards, "fuzz")
    from chord_chaos.campaign.fuzz import Fuzz
    from chord_chaos.cli.progress import Progress

    backends = list(dict.fromkeys(args.backend or BACKENDS))
    database = None if args.database == "none" else Path(args.database)
    seed = args.seed if shards == 1 else args.seed * shards + shard - 1  # each worker its own draws
    with Progress(args.budget, plain=bool(os.environ.get(PLAIN_PROGRESS)), every=5.0) as progress:
        fuzz = Fuzz(backends, args.budget, seed, Path(args.report_dir), strict=bool(args.strict),
                    shrink_budget=args.shrink_budget, database=database, on_run=progress.on_run)
        summary = fuzz.run()
    return _finish(summary, f"chord-chaos fuzz, seed {seed}{_mode(args)}", args.junit)


def _finish(summary: Summary, title: str, junit: str | None, fail_on: str = "unknown",
            min_landing: float = 0.0) -> int:
    from chord_chaos.campaign.self_check import coverage_lines, landing_lines, self_check
    from chord_chaos.check.coverage import SHAPE_FEATURES
    from chord_chaos.cli.progress import print_table

    print_table(summary.tallies, f"{title}, {summary.elapsed:.0f} s")
    for line in [*landing_lines(summary), *coverage_lines(summary, SHAPE_FEATURES)]:
        print(line)
    problems = self_check(summary, min_landing) if min_landing > 0 else []
    for problem in problems:
        print(f"SELF-CHECK FAILED: {problem}")
    for failure in summary.failures:
        print(f"{failure['verdict'].upper()} {failure['scenario']}/{failure['backend']} "
              f"({failure.get('stage', '-')}): {'; '.join(failure['messages'])[:300]}\n"
              f"  report: {failure.get('report', '-')}\n  replay: {failure.get('replay', '-')}")
    print(f"summary: {summary.path}")
    if junit:
        from chord_chaos.report.junit import write_junit

        print(f"junit: {write_junit(summary.to_json(), Path(junit))}")
    if summary.interrupted:
        print(f"chord-chaos: interrupted ({summary.interrupted}); every process started was stopped, "
              "the summary holds what finished", file=sys.stderr)
        return exit_for_signal(summary.interrupted)
    code = _exit_for_summary(summary, fail_on)
    return EXIT_SELF_CHECK if code == EXIT_OK and problems else code


def _parallel(args: argparse.Namespace, shard: int, shards: int, command: str = "chaos") -> int:
    """N child campaigns, each an isolated cluster on its own slice; then one merged summary."""
    n = args.workers
    report_dir = Path(args.report_dir)
    children = []
    for k in range(1, n + 1):
        argv = [sys.executable, "-m", "chord_chaos.cli.main", command, "--budget", str(args.budget),
                "--seed", str(args.seed), "--shrink-budget", str(args.shrink_budget),
                "--database", args.database, "--report-dir", str(report_dir / f"worker-{k}"),
                "--shard", f"{(shard - 1) * n + k}/{shards * n}"]
        if command == "chaos":
            argv += ["--fail-on", args.fail_on]
        if args.strict:
            argv.append("--strict")
        for name in getattr(args, "scenario", None) or []:
            argv += ["--scenario", name]
        for name in args.backend or []:
            argv += ["--backend", name]
        # Their own sessions: a terminal's Ctrl-C reaches this process only, which passes it on
        # exactly once (a second one would stop a child at once, before its summary).
        children.append(subprocess.Popen(argv, env={**os.environ, PLAIN_PROGRESS: "1"},
                                         stdout=subprocess.DEVNULL, start_new_session=True))
    try:
        codes = [c.wait() for c in children]
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (cli.main's signals_interrupt)
        codes = _stop_children(children)
    summaries = [report_dir / f"worker-{k}" / "summary.json" for k in range(1, n + 1)]
    present = [s for s in summaries if s.exists()]
    if not present:
        raise UsageError(f"no worker wrote a summary (exit codes {codes}); see the lines above")
    return _merged(present, report_dir, f"chord-chaos {command}, seed {args.seed}, {n} workers{_mode(args)}",
                   args.junit, getattr(args, "fail_on", "unknown"), getattr(args, "min_landing", 0.0))


def _stop_children(children: list[subprocess.Popen[bytes]], grace: float = 60.0) -> list[int]:
    """Pass Ctrl-C on to every child once (each stops its run and writes its summary); SIGKILL
    any still running after ``grace`` s (their servers die with them)."""
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for c in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            c.wait(timeout=max(0.0, deadline - time.monotonic()))
        if c.poll() is None:
            c.kill()
    return [c.wait() for c in children]


def _merged(paths: list[Path], out: Path, title: str, junit: str | None,
            fail_on: str = "unknown", min_landing: float = 0.0) -> int:
    from chord_chaos.campaign.summary import merge_summaries

    summary = merge_summaries([Summary.from_json(json.loads(p.read_text(encoding="utf-8")))
                               for p in paths], out)
    return _finish(summary, title, junit, fail_on, min_landing)


def cmd_merge(args: argparse.Namespace) -> int:
    paths = []
    for given in args.summaries:
        path = Path(given)
        path = path / "summary.json" if path.is_dir() else path
        if not path.is_file():
            raise UsageError(f"{given}: no summary.json there; give summary files or the report "
                             "directories of campaigns")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path}: not JSON ({type(exc).__name__}); give a summary.json written "
                             "by chord-chaos chaos") from None
        if not isinstance(obj, dict) or not {"scenarios", "failures", "totals"} <= set(obj):
            raise UsageError(f"{path}: not a campaign summary; give a summary.json written by "
                             "chord-chaos chaos")
        paths.append(path)
    return _merged(paths, Path(args.out), f"merged campaign of {len(paths)}", args.junit,
                   min_landing=args.min_landing)


def cmd_replay(args: argparse.Namespace) -> int:
    from chord_chaos.campaign.replay import replay
    from chord_chaos.report.json_report import ReportError, load, record_rate

    if args.times < 1:
        raise UsageError(f"--times must be at least 1, got {args.times}")
    try:
        report = load(Path(args.report))
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    enter_target(args, report_celery(report.history))
    recorded = report.history.meta.get("settings")
    if not getattr(args, "config", None) and isinstance(recorded, dict) and recorded:
        from chord_chaos.cli.config_option import adopt_settings

        adopt_settings(recorded, f"{args.report} (its recorded settings)")  # as the run had them

    def show(i: int, result: Any, hit: bool) -> None:
        print(json.dumps({"replay": i + 1, "verdict": result.verdict.verdict, "reproduced": hit,
                          "violations": [v.message for v in result.verdict.violations],
                          "history": str(result.history_path)}), flush=True)

    strict = report.history.strict if args.strict is None else args.strict
    outcome = replay(report, args.times, Path(args.report_dir), show, strict=strict)
    lo, hi = outcome["ci95"]
    print(json.dumps(outcome))
    record_rate(Path(args.report), outcome, strict)
    print(f"reproduced {outcome['reproduced']} of {outcome['runs']} "
          f"({100 * (outcome['rate'] or 0):.0f} %, 95 % interval {100 * lo:.0f}-{100 * hi:.0f} %)",
          file=sys.stderr)
    return EXIT_VIOLATION if outcome["reproduced"] else EXIT_OK


def cmd_known_issues(args: argparse.Namespace) -> int:
    from chord_chaos.check.known_issues import REGISTER

    if not args.check:
        if args.record or args.celery:
            raise UsageError("--record and --celery go with --check: "
                             "chord-chaos known-issues --check --celery V --record")
        for k in REGISTER:
            print(f"{k.id}  [Celery {k.celery_versions}; {k.backend}]  {k.link}")
        return EXIT_OK
    if args.times < 1:
        raise UsageError(f"--times must be at least 1, got {args.times}")
    enter_target(args)
    from chord_chaos.campaign.register import DETERMINISTIC_VAR, check_register, record_verified

    if args.deterministic:
        os.environ[DETERMINISTIC_VAR] = "1"
    from chord_chaos.harness.infra.versions import celery_under_test

    results = check_register(args.times, Path(args.report_dir))
    for r in results:
        if r["not_run"]:
            print(f"{r['id']}: {r['not_run']}")
            continue
        state = "reproduces" if r["reproduced"] else "DID NOT REPRODUCE"
        hint = "" if r["reproduced"] else (
            " (flaky: expected at times)" if r["flaky"] else " - fixed in this Celery? check its link")
        version = "" if r["version_listed"] else (
            f" [entry lists Celery {r['celery_versions']}, installed {r['installed_celery']}]")
        print(f"{r['id']}: {state} {r['reproduced']}/{r['runs']}{hint}{version}")
    if args.record:
        release = celery_under_test()["version"]
        added = record_verified(results, release)
        print(f"recorded Celery {release} as verified for {', '.join(added) or 'no new entry'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.junit:
        from chord_chaos.harness.infra.versions import versions
        from chord_chaos.report.junit import write_junit

        empty = {"scenarios": [], "failures": [], "elapsed": 0, "versions": versions()}
        print(f"junit: {write_junit(empty, Path(args.junit), register=results)}")
    return EXIT_OK
