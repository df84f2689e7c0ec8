"""``chord-chaos bisect``: the release where a canvas's verdict flips, between a good and a bad one.

The candidates are the published final releases between the two, from the package index. Each
step runs the case several times on one cluster (a real cluster is not deterministic) and counts
as bad when any run shows the bad release's verdict (a violation, or unknown); each step's
reproduction rate is shown with its 95 % interval. Good may be older than bad (a regression:
the first bad release) or newer (a fix: the first good release).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from chord_chaos.campaign.stats import rate
from chord_chaos.campaign.target_runs import Announce, Outcome, prepare, run_files
from chord_chaos.target.environment import cache_dir
from chord_chaos.target.index import releases
from chord_chaos.target.spec import SpecError

FAILING = ("violation", "unknown")


class BisectError(ValueError):
    """Nothing to bisect (the endpoints agree, or one could not run): one line, what to try."""


@dataclass
class Step:
    release: str
    outcomes: list[Outcome]
    looking_for: tuple[str, ...] = FAILING

    @property
    def reproduced(self) -> int:
        return sum(o.cell in self.looking_for for o in self.outcomes)

    @property
    def bad(self) -> bool:
        return self.reproduced > 0

    @property
    def errors(self) -> list[str]:
        return [o.summary for o in self.outcomes if o.cell == "error"]

    def line(self) -> str:
        r = rate(self.reproduced, len(self.outcomes))
        lo, hi = r["ci95"]
        flaky = " (flaky)" if 0 < self.reproduced < len(self.outcomes) else ""
        return (f"{self.release:<10} {'bad' if self.bad else 'good':<5} reproduced {self.reproduced} of "
                f"{len(self.outcomes)} ({100 * (r['rate'] or 0):.0f} %, 95 % interval "
                f"{100 * lo:.0f}-{100 * hi:.0f} %){flaky}")

    @property
    def report(self) -> str | None:
        return next((str(o.line["report"]) for o in self.outcomes
                     if o.cell in self.looking_for and o.line.get("report")), None)


@dataclass
class Bisection:
    good: str
    bad: str
    candidates: list[str]
    steps: list[Step] = field(default_factory=list)
    last_good: str = ""
    first_bad: str = ""

    @property
    def regression(self) -> bool:
        return Version(self.good) < Version(self.bad)


def candidates(known: list[Version], good: Version, bad: Version) -> list[str]:
    """The final releases from ``good`` to ``bad`` (both included), in that direction."""
    lo, hi = sorted((good, bad))
    between = sorted({v for v in known if lo <= v <= hi and not v.is_prerelease} | {good, bad})
    return [str(v) for v in (between if good < bad else between[::-1])]


def _release(text: str, known: list[Version], flag: str) -> Version:
    try:
        v = Version(text)
    except InvalidVersion:
        raise SpecError(f"{flag} {text}: not a release number; give one like 5.3.6") from None
    if v not in known:
        finals = [str(k) for k in known if not k.is_prerelease][-4:][::-1]
        raise SpecError(f"{flag} {text}: not a published Celery release (the newest are "
                        f"{', '.join(finals)})")
    return v


def bisect(file: str, good: str, bad: str, backend: str, times: int, timeout: float, out: Path,
           announce: Announce, on_step: Callable[[Step], None] | None = None,
           config: str | None = None, strict: bool = False) -> Bisection:
    known = [r.version for r in releases(cache_dir())]
    g, b = _release(good, known, "--good"), _release(bad, known, "--bad")
    if g == b:
        raise BisectError(f"--good and --bad are both {good}; give two different releases")
    found = Bisection(good, bad, candidates(known, g, b))

    def step(release: str, looking_for: tuple[str, ...] = FAILING) -> Step:
        target = prepare(release, announce)
        outcomes = run_files(target, [file] * times, backend, timeout, out / release, config, strict)
        done = Step(release, outcomes, looking_for)
        if done.errors:
            raise BisectError(f"Celery {release} could not run the case: {done.errors[0]}")
        found.steps.append(done)
        if on_step is not None:
            on_step(done)
        return done

    at_bad = step(bad)
    if not at_bad.bad:
        raise BisectError(f"the case passes on the bad release {bad} ({at_bad.reproduced} of {times} "
                          "runs failed): nothing to bisect; try more --times if it is flaky")
    looking_for = tuple(sorted({o.cell for o in at_bad.outcomes if o.cell in FAILING}))
    at_bad.looking_for = looking_for
    if step(good, looking_for).bad:
        raise BisectError(f"the case fails on the good release {good} too: no flip between {good} and "
                          f"{bad}; pick a release where it passes")
    order = found.candidates
    lo, hi = 0, len(order) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if step(order[mid], looking_for).bad:
            hi = mid
        else:
            lo = mid
    found.last_good, found.first_bad = order[lo], order[hi]
    return found
