"""``make bench``: cluster cold start, checked canvases per second, and harness overhead, per
backend and broker (RabbitMQ's node start and PostgreSQL's polling against SQLite's included).

Overhead is the time to run and check a set of canvases divided by the time to submit the
same canvases to the same cluster and wait for their results without settling the ledger or
checking (the tasks are the same instrumented tasks either way).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from chord_chaos.check.result import Job
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.harness.run.compile import compile_workload
from chord_chaos.models.canvas import Workload, size, uses_op
from chord_chaos.models.strategies import workloads
from chord_chaos.models.vocabulary import BACKEND_CHOICES, BACKENDS, BROKERS, VerdictKind


def sample(n: int, max_leaves: int = 10, seed_value: int = 1) -> list[Workload]:
    """n canvases of up to ``max_leaves`` tasks, without failures or retries: the known
    liveness issues (celery#4004, retry-state-race) would make the timing measure timeouts."""
    drawn: list[Workload] = []

    @seed(seed_value)
    @settings(max_examples=n * 3, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(workloads(max_leaves=max_leaves, callbacks=False, failures=False))
    def collect(w: Workload) -> None:
        if len(drawn) < n and size(w.canvas) <= max_leaves and not uses_op(w.canvas, "retry"):
            drawn.append(w)

    collect()
    return drawn


def _bare(cluster: Cluster, jobs: list[Workload], batch: int) -> float:
    start = time.monotonic()
    for i in range(0, len(jobs), batch):
        results = [compile_workload(cluster.app, w, uuid.uuid4().hex[:12]).apply_async(
            args=w.args, kwargs=w.kwargs) for w in jobs[i:i + batch]]
        for r in results:
            r.get(timeout=30, interval=0.05, propagate=False)
    return time.monotonic() - start


def bench_backend(backend: str, n: int, out: Path, broker: str = "redis") -> dict[str, float]:
    t0 = time.monotonic()
    with Cluster(backend=backend, broker=broker) as cluster:
        cold = time.monotonic() - t0
        jobs = sample(n)
        runner = BatchRunner(cluster, out / f"{backend}-{broker}", timeout=30.0)
        _bare(cluster, jobs[:5], 5)  # warm the pools before measuring
        start = time.monotonic()
        verdicts = [r.verdict.verdict for r in runner.run([Job(str(i), w) for i, w in
                                                           enumerate(jobs)], batch=10)]
        checked = time.monotonic() - start
        bare = _bare(cluster, jobs, 10)
    return {"cold_start_s": round(cold, 2), "canvases": len(jobs),
            "checked_per_s": round(len(jobs) / checked, 1),
            "bare_per_s": round(len(jobs) / bare, 1), "overhead_ratio": round(checked / bare, 2),
            "passed": verdicts.count(VerdictKind.PASS), **bench_in_flight(backend, jobs, out, broker)}


IN_FLIGHT = 100  # canvases at once, as fuzz keeps (its draws in flight hold more)


def bench_in_flight(backend: str, jobs: list[Workload], out: Path, broker: str = "redis") -> dict[str, float]:
    """The same canvases on fuzz's cluster (four pool processes per node), IN_FLIGHT at once:
    what keeping more canvases in flight gives, chord_unlock's 1 s wait most."""
    from chord_chaos.campaign.fuzz import CONCURRENCY

    with Cluster(backend=backend, concurrency=CONCURRENCY, broker=broker) as cluster:
        runner = BatchRunner(cluster, out / f"{backend}-{broker}-in-flight", timeout=30.0)
        _bare(cluster, jobs[:5], 5)
        start = time.monotonic()
        verdicts = [r.verdict.verdict for r in runner.run([Job(str(i), w) for i, w in
                                                           enumerate(jobs)], batch=IN_FLIGHT)]
        checked = time.monotonic() - start
    return {"in_flight": IN_FLIGHT, "in_flight_checked_per_s": round(len(jobs) / checked, 1),
            "in_flight_passed": verdicts.count(VerdictKind.PASS)}


def bench_fuzz(backend: str, seconds: float, out: Path) -> dict[str, float]:
    """``chord-chaos fuzz`` as shipped (plain and swarm canvases, failures, retries, slow work),
    seed 0: canvases checked per second of its budget, cluster start included."""
    from chord_chaos.campaign.fuzz import Fuzz

    t0 = time.monotonic()
    summary = Fuzz([backend], seconds, 0, out / f"fuzz-{backend}", shrink_budget=0.0).run()
    elapsed = time.monotonic() - t0
    t = summary.tallies[0]
    drawn = t.runs - t.shrink_runs
    return {"fuzz_canvases": drawn, "fuzz_per_s": round(drawn / elapsed, 1), "fuzz_violations": t.violations}


def bench_rabbitmq_start(out: Path, times: int = 3) -> dict[str, object]:
    """A RabbitMQ node's cold start (epmd included) and a restart on the same ports, alone."""
    from chord_chaos.harness.infra.rabbitmq_server import RabbitMQServer
    from chord_chaos.harness.infra.supervisor import Supervisor

    sup = Supervisor(out / "rabbitmq-state", handle_signals=False)
    cold, restart = [], []
    try:
        for i in range(times):
            t0 = time.monotonic()
            node = RabbitMQServer(sup, out / f"rabbitmq-{i}").start()
            cold.append(round(time.monotonic() - t0, 2))
            t0 = time.monotonic()
            node.restart()
            restart.append(round(time.monotonic() - t0, 2))
            node.stop()
    finally:
        sup.stop_all()
    return {"rabbitmq_cold_start_s": cold, "rabbitmq_restart_s": restart}


MATRIX_CELERY = ("5.2.7", "5.3.0")  # the releases the tests download; the installed one is added


def bench_matrix(specs: list[str], out: Path) -> dict[str, object]:
    """``--celery`` environments (built, or reused from the cache: the seconds of each) and
    ``matrix`` over the seed canvases on Redis, one column per release."""
    from importlib.metadata import version

    from chord_chaos.campaign.matrix import run_matrix
    from chord_chaos.campaign.target_runs import prepare

    specs = list(dict.fromkeys([*specs, version("celery")]))
    envs: dict[str, float] = {}
    targets = []
    for spec in specs:
        t0 = time.monotonic()
        targets.append(prepare(spec, lambda _line: None))
        envs[spec] = round(time.monotonic() - t0, 2)
    again = time.monotonic()
    prepare(specs[0], lambda _line: None)
    seeds = sorted(str(p) for p in Path("canvases/seeds").glob("*.json"))
    matrix = run_matrix(seeds, targets, ["redis"], 30.0, out / "matrix")
    cells = [o.cell for o in matrix.cells.values()]
    return {"celery_env_seconds": envs, "celery_env_reuse_s": round(time.monotonic() - again, 2),
            "matrix_releases": len(targets), "matrix_canvases": len(seeds),
            "matrix_s": round(matrix.elapsed, 1), "matrix_passed": cells.count("pass")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--canvases", type=int, default=200)
    parser.add_argument("--fuzz-seconds", type=float, default=60.0)
    parser.add_argument("--out", default=".cc-runs/bench")
    parser.add_argument("--backend", choices=list(BACKEND_CHOICES), action="append")
    parser.add_argument("--broker", choices=[str(b) for b in BROKERS], action="append")
    parser.add_argument("--celery", action="append", default=None,
                        help=f"releases for the matrix figure (default {', '.join(MATRIX_CELERY)})")
    parser.add_argument("--no-matrix", action="store_true", help="skip the --celery figures")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.no_matrix:
        print(json.dumps(bench_matrix(args.celery or list(MATRIX_CELERY), out)), flush=True)
    brokers = args.broker or list(BROKERS)
    if "rabbitmq" in brokers:
        print(json.dumps(bench_rabbitmq_start(out)), flush=True)
    for broker in brokers:
        for backend in args.backend or [*BACKENDS, "postgres"]:
            figures = bench_backend(backend, args.canvases, out, broker)
            if broker == "redis" and backend in BACKENDS:
                figures.update(bench_fuzz(backend, args.fuzz_seconds, out))
            print(json.dumps({"broker": broker, "backend": backend, **figures}), flush=True)


if __name__ == "__main__":
    main()
