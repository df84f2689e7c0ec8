"""fuzz: draws judged late, a failing draw rewound and shrunk to its one failing canvas, and a
short real run on a cluster."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from chord_chaos.campaign import fuzz as fuzz_module
from chord_chaos.campaign.fuzz import Batch, Fuzz, _Backend, batch_key, batches
from chord_chaos.campaign.summary import Tally
from chord_chaos.check.exact import Violation
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import Verdict
from chord_chaos.models.canvas import Workload, uses_op, workload_to_json
from chord_chaos.models.semantics import predict
from chord_chaos.models.strategies import modelled
from chord_chaos.models.vocabulary import CheckName, VerdictKind


def _fails(w: Workload) -> bool:
    """The planted 'bug' of the fake cluster: any canvas that retries is a violation."""
    return uses_op(w.canvas, "retry")


class FakeRunner:
    """Judges instantly (a violation where ``fails``); records the order in which draws were
    started and finished."""

    def __init__(self, fails: Any = _fails) -> None:
        self.fails = fails
        self.started: list[int] = []
        self.finished: list[int] = []
        self.log: list[tuple[str, int]] = []

    def start(self, jobs: Sequence[Job]) -> list[Any]:
        self.started.append(len(self.started))
        self.log.append(("start", self.started[-1]))
        return [len(self.started) - 1, list(jobs)]

    def finish(self, pending: list[Any]) -> list[RunResult]:
        draw, jobs = pending
        self.finished.append(draw)
        self.log.append(("finish", draw))
        return [self._result(j) for j in jobs]

    def _result(self, job: Job) -> RunResult:
        h = History("r", workload_to_json(job.workload), "redis", ClientView("SUCCESS"), (), 8.0)
        bad = self.fails(job.workload)
        v = (Verdict(VerdictKind.VIOLATION, (Violation(CheckName.OUTCOME, "planted"),)) if bad
             else Verdict(VerdictKind.PASS))
        return RunResult(job, predict(job.workload), h, v, Path("/dev/null"))


def _backend(tmp_path: Path, budget: float, runner: FakeRunner) -> _Backend:
    owner = Fuzz(["redis"], budget, 0, tmp_path, shrink_budget=60.0, reproduce=1)  # shrinks to the end
    b = _Backend(owner, "redis", Tally("fuzz", "redis", "plain"), time.monotonic() + budget,
                 time.monotonic())
    b.runner = runner
    return b


def test_draws_are_judged_late_and_a_failure_is_shrunk_to_its_canvas(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzz_module, "write", lambda result, origin, root, name: root / name)
    runner = FakeRunner()
    b = _backend(tmp_path, 600.0, runner)
    # the budget, by count: stop once the failure is reported, or after 40 draws
    b.over = lambda: len(runner.started) >= 40 or any(  # type: ignore[method-assign]
        f["stage"] == "minimal" for f in b.owner.failures)
    b.hunt()
    # judged late: the first draw is checked only once the fourth is in flight
    assert runner.log.index(("finish", 0)) > runner.log.index(("start", fuzz_module.DEPTH - 1))
    minimal = [f for f in b.owner.failures if f["stage"] == "minimal"]
    assert minimal, "the planted bug (a retry) was not found"
    # shrunk to one retrying canvas: a single retry task, however it was drawn
    assert minimal[0]["canvas"]["canvas"]["task"] == "retry"
    assert not b.pending  # every draw in flight was judged


def test_a_spent_budget_draws_nothing_more_and_judges_what_is_in_flight(tmp_path: Path) -> None:
    runner = FakeRunner(fails=lambda w: False)
    b = _backend(tmp_path, 60.0, runner)
    b.over = lambda: len(runner.started) >= 5  # type: ignore[method-assign]  # the budget, by count
    b.hunt()
    assert runner.started == [0, 1, 2, 3, 4] and sorted(runner.finished) == runner.started
    assert b.tally.runs > 0 and b.tally.violations == 0 and not b.pending
    spent = _backend(tmp_path, 0.0, FakeRunner(fails=lambda w: False))
    spent.hunt()
    assert spent.tally.runs == 0  # a share already spent starts no draw


def test_a_batch_holds_only_canvases_the_model_predicts() -> None:
    seen: list[Batch] = []

    @seed(3)
    @settings(max_examples=15, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(batches(10))
    def collect(batch: Batch) -> None:
        seen.append(batch)

    collect()
    assert seen and all(modelled(w) for b in seen for w in b)
    assert all(json.loads(batch_key(b)) == [workload_to_json(w) for w in b] for b in seen)


@pytest.mark.cluster
def test_a_short_fuzz_run_on_redis_checks_canvases_and_writes_a_summary(tmp_path: Path) -> None:
    summary = Fuzz(["redis"], 6.0, 0, tmp_path, shrink_budget=0.0).run()
    (tally,) = summary.tallies
    assert tally.runs >= 20 and tally.passed + tally.known + tally.violations >= tally.runs - tally.unknown
    assert tally.violations == 0, summary.failures
    assert json.loads((tmp_path / "summary.json").read_text())["scenarios"][0]["scenario"] == "fuzz"
