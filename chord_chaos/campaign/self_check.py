"""Whether a campaign tested what it claims: how many of its faults landed on work in flight,
what it drew, and the self-check that fails a gate whose chaos mostly met idle processes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from chord_chaos.campaign.summary import Summary, Tally

MIN_PROCESS_LANDING = 0.8  # the gate fails its self-check below this share of process faults hit
PROMISED_LANDING = 0.95  # a scenario named "mid-..." hits in at least this share of its runs
MIN_EVIDENCE = 5  # fewer applied faults (or faulted runs) than this judge nothing


def promises_landing(scenario: str) -> bool:
    return "-mid-" in scenario


def _rate(hit: int, of: int) -> str:
    return f"{hit}/{of} ({100 * hit / of:.0f} %)" if of else "0/0"


def landing_lines(summary: Summary) -> list[str]:
    """Faults that hit work in flight: process faults overall, then per fault kind."""
    landings: Counter[str] = Counter()
    for t in summary.tallies:
        landings.update(t.landings)
    if not landings:
        return []
    merged = Tally("all", "-", "-", landings=landings)
    per_kind = []
    for kind in sorted({k.partition(":")[0] for k in landings}):
        hit, applied = merged.effectiveness((kind,))
        unmeasured = landings[f"{kind}:unmeasured"]
        per_kind.append(f"{kind} {_rate(hit, applied)}"
                        + (f", {unmeasured} unmeasured" if unmeasured else ""))
    hit, applied = merged.process_effectiveness()
    return [f"faults that hit work in flight: process faults {_rate(hit, applied)}; "
            + "; ".join(per_kind)]


def coverage_lines(summary: Summary, features: Iterable[str] = ()) -> list[str]:
    """What was drawn and hit: shape features, fault kind x role hits, timeouts outlived, and
    every feature of ``features`` never drawn, by name."""
    drawn: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for t in summary.tallies:
        drawn.update(t.features)
        hits.update(t.hits)
    lines = []
    shapes = {k: n for k, n in drawn.items() if not k.startswith("outlived ")}
    outlived = {k.removeprefix("outlived "): n for k, n in drawn.items() if k.startswith("outlived ")}
    if shapes:
        lines.append("shapes drawn: " + ", ".join(f"{k} {n}" for k, n in sorted(shapes.items())))
    if hits:
        lines.append("fault x role hit: " + ", ".join(f"{k} {n}" for k, n in sorted(hits.items())))
    if outlived:
        lines.append("timeouts outlived: " + ", ".join(f"{k} {n}" for k, n in sorted(outlived.items())))
    never = [f for f in features if not drawn.get(f)]
    if never and shapes:
        lines.append("never drawn: " + ", ".join(never))
    return lines


def self_check(summary: Summary, min_process: float = MIN_PROCESS_LANDING) -> list[str]:
    """Why this campaign's chaos cannot be trusted; empty when it landed."""
    problems = []
    hit = applied = 0
    for t in summary.tallies:
        h, a = t.process_effectiveness()
        hit, applied = hit + h, applied + a
        if (promises_landing(t.scenario) and t.faulted_runs >= MIN_EVIDENCE
                and t.landed_runs < PROMISED_LANDING * t.faulted_runs):
            problems.append(f"{t.scenario}/{t.backend} promises a landing but hit in "
                            f"{_rate(t.landed_runs, t.faulted_runs)} of its runs (at least "
                            f"{PROMISED_LANDING:.0%} expected)")
    if applied >= MIN_EVIDENCE and hit < min_process * applied:
        problems.append(f"only {_rate(hit, applied)} of the process faults hit a task in flight "
                        f"(at least {min_process:.0%} expected): the chaos mostly met idle processes")
    return problems
