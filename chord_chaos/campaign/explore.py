"""Drawing cases with Hypothesis, and shrinking a failing one, on a real (flaky) cluster.

Hypothesis draws (workload, fault plan) pairs from a seed and shrinks both together when one
fails. A real cluster is not deterministic, so two things keep Hypothesis honest:

* every case is judged once and the answer is cached by the case's JSON: Hypothesis never
  sees a case change its mind, so a candidate that failed once and passes later cannot end
  the search with a Flaky error;
* while shrinking, a candidate is run up to ``replays`` times and counts as failing if any
  run fails with a violation sharing a check with the original failure; the judge reports
  the rate, so the minimal case comes with "failed k of n".

Shrinking has its own time budget; once spent, the shrinker is stopped and the smallest failing
case found so far is the minimal one. After a failure and its
shrinking, drawing resumes with the next seed of the round sequence, until ``over()``.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from chord_chaos.models.canvas import Workload, workload_to_json
from chord_chaos.models.faults import FaultPlan

MAX_EXAMPLES = 100_000  # the budget, not this, ends exploration
Case = tuple[Workload, FaultPlan]
Signature = frozenset[str]  # the checks a failing case violated
# (workload, plan, shrinking) -> the violated checks, or None when the case passed
Judge = Callable[[Workload, FaultPlan, bool], Signature | None]
C = TypeVar("C")  # what one draw is: a (workload, plan) case, or a batch of workloads (fuzz)


class _Over(Exception):
    """The budget is spent: stop drawing."""


class _Stopped(KeyboardInterrupt):
    """SIGTERM's SystemExit during a case, carried past Hypothesis as the one exception it
    never takes for a failing case: a KeyboardInterrupt. (Any other, SystemExit included, it
    would replay, shrink and then call flaky, where the user asked to stop.)"""

    def __init__(self, original: BaseException) -> None:
        super().__init__(original)
        self.original = original


class _ShrinkSpent(KeyboardInterrupt):
    """The shrink budget is spent: stop Hypothesis's shrinker (which would otherwise go on,
    for minutes, through candidates counted as passing) with the smallest failing case so far."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class Rewind(KeyboardInterrupt):
    """Raised by a judge that answers one draw late (fuzz: draw k is judged while draw k+1 runs)
    when an earlier draw failed: the round restarts from its seed with ``known`` answers, so
    Hypothesis draws the same cases again (answered from ``known``, not run) up to the failing
    one, which it then shrinks, judged at once. A KeyboardInterrupt, so Hypothesis lets it out."""

    def __init__(self, known: dict[str, Signature | None]) -> None:
        super().__init__("rewind")
        self.known = known


class _Failing(Exception):
    """Raised for Hypothesis: this case fails (the same failure as the first one)."""


@dataclass
class Found(Generic[C]):
    """A failure and the smallest case Hypothesis shrank it to."""

    first: C
    minimal: C
    signature: Signature
    candidates: int = 0  # shrink candidates judged on the cluster
    blob: str | None = None  # Hypothesis's @reproduce_failure line


def case_key(case: Case) -> str:
    workload, plan = case
    return json.dumps(workload_to_json(workload), sort_keys=True) + plan.dumps()


@dataclass
class _Round(Generic[C]):
    judge: Callable[[C, bool], Signature | None]
    over: Callable[[], bool]
    shrink_budget: float
    key: Callable[[C], str]
    cache: dict[str, Signature | None] = field(default_factory=dict)
    cases: dict[str, C] = field(default_factory=dict)
    found: Found[C] | None = None
    shrink_deadline: float = 0.0
    last_failing: str = ""  # the key of the smallest failing case so far

    def stop_if_spent(self) -> None:
        if self.found is not None and time.monotonic() >= self.shrink_deadline:
            raise _ShrinkSpent(self.last_failing)

    def __call__(self, case: C) -> None:
        self.stop_if_spent()
        key = self.key(case)
        if key not in self.cache:
            try:
                self.cache[key] = self._judge(case)
            except SystemExit as exc:
                raise _Stopped(exc) from None
        self.cases.setdefault(key, case)
        sig = self.cache[key]
        if sig is not None and self.found is None:
            self.found = Found(case, case, sig)
            self.shrink_deadline = time.monotonic() + self.shrink_budget
        if sig is not None and self.found is not None and sig & self.found.signature:
            self.last_failing = key
            raise _Failing(key)  # one raise site: Hypothesis tells failures apart by where they raise


    def _judge(self, case: C) -> Signature | None:
        if self.found is None:
            if self.over():
                raise _Over
            return self.judge(case, False)
        self.found.candidates += 1
        return self.judge(case, True)


def _drawer(strategy: st.SearchStrategy[C], round_seed: int, phases: list[Phase],
            database: Path | None, state: _Round[C]) -> Callable[[], None]:
    @st.composite
    def guarded(draw: st.DrawFn) -> C:
        state.stop_if_spent()  # also before drawing: most shrink candidates never reach the test
        return draw(strategy)

    @settings(max_examples=MAX_EXAMPLES, phases=phases, deadline=None, report_multiple_bugs=False,
              database=DirectoryBasedExampleDatabase(str(database)) if database else None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              derandomize=False, print_blob=True)
    @seed(round_seed)
    @given(guarded())
    def draw(case: C) -> None:
        state(case)

    return draw


def explore(strategy: st.SearchStrategy[Case], pair_seed: int, over: Callable[[], bool], judge: Judge,
            on_found: Callable[[Found[Case]], None] | None = None, shrink_budget: float = 60.0,
            database: Path | None = None) -> None:
    """Draw (workload, fault plan) cases from ``pair_seed`` until ``over()``; shrink each
    failure and report it."""
    search(strategy, pair_seed, over, lambda case, shrinking: judge(*case, shrinking), case_key,
           on_found, shrink_budget, database)


def search(strategy: st.SearchStrategy[C], pair_seed: int, over: Callable[[], bool],
           judge: Callable[[C, bool], Signature | None], key: Callable[[C], str],
           on_found: Callable[[Found[C]], None] | None = None, shrink_budget: float = 60.0,
           database: Path | None = None) -> None:
    """``explore`` for any kind of draw, told apart by ``key`` (its JSON). A judge may raise
    ``Rewind`` to replay the round with answers it already has."""
    known: dict[str, Signature | None] = {}
    round_no = 0
    while round_no < 1_000:
        state = _Round(judge, over, shrink_budget, key, cache=known)
        known = {}
        phases = [Phase.generate, Phase.shrink] if on_found else [Phase.generate]
        if database is not None:
            phases.insert(0, Phase.reuse)

        draw = _drawer(strategy, zlib.crc32(f"{pair_seed}:{round_no}".encode()), phases, database,
                       state)
        try:
            draw()
        except _Over:
            return
        except Rewind as rewind:
            known = rewind.known
            continue  # the same round again, from its seed
        except _Stopped as stopped:
            raise stopped.original from None
        except _ShrinkSpent as spent:
            found = state.found
            assert found is not None
            found.minimal = state.cases[spent.key]
            if on_found is not None:
                on_found(found)
        except _Failing as failing:
            found = state.found
            assert found is not None
            found.minimal = state.cases[str(failing.args[0])]
            found.blob = next((n.strip() for n in getattr(failing, "__notes__", ())
                               if "reproduce_failure" in n), None)
            if on_found is not None:
                on_found(found)
        else:
            return  # the strategy is exhausted: every case it can draw was judged
        if over():
            return
        round_no += 1


def pair_seed(campaign_seed: int, scenario: str, backend: str) -> int:
    return zlib.crc32(f"{campaign_seed}:{scenario}:{backend}".encode())


def without_failures(fn: Callable[[Workload, FaultPlan], None]) -> Judge:
    """A judge for drawing only (tests, dry runs): every case passes."""

    def judge(workload: Workload, plan: FaultPlan, shrinking: bool) -> Signature | None:
        fn(workload, plan)
        return None

    return judge

