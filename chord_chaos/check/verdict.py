"""The checker: Prediction + History -> Verdict (pass, violation or unknown).

A harness failure (a worker that never started, a lost ledger, a fault the nemesis could not
apply or heal) or a crash of a check is ``unknown``, never a pass. Violations that match an
entry of the known-issues register are reported under ``known_issues`` and do not make the
verdict a violation, unless the history was checked strictly (``--strict``: no excuses).
Under faults, a finding of a property Celery does not promise for the run's delivery
configuration and faults is an anomaly: reported, never a failure. The run's Celery settings
(``--config``) may take back more promises, with or without faults (``check/settings.py``): the
verdict lists those relaxations, and the settings the model does not know.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from chord_chaos.check.bounded import FAULT_CHECKS, SAFETY
from chord_chaos.check.effectiveness import Landing, landings
from chord_chaos.check.exact import CHECKS, Violation
from chord_chaos.check.history import History
from chord_chaos.check.known_issues import match_known
from chord_chaos.check.redelivery import broker_of
from chord_chaos.check.settings import (
    prediction_for,
    relaxed_in,
    relaxed_properties,
    unmodelled_in,
    weakened,
)
from chord_chaos.models.faults import parse_plan
from chord_chaos.models.guarantees import DELIVERIES, promise
from chord_chaos.models.semantics import Prediction
from chord_chaos.models.settings import Relaxation
from chord_chaos.models.vocabulary import CheckName, VerdictKind


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    violations: tuple[Violation, ...] = ()
    known: tuple[tuple[str, Violation], ...] = ()
    reasons: tuple[str, ...] = field(default=())
    anomalies: tuple[tuple[str, Violation], ...] = ()  # (property not promised, what happened)
    landings: tuple[Landing, ...] = ()  # whether each applied fault hit work in flight
    strict: bool = False  # checked with no known-issue excuses
    relaxed: tuple[Relaxation, ...] = ()  # promises the run's Celery settings take back
    unmodelled: tuple[str, ...] = ()  # settings the run had that the model does not know

    def to_json(self) -> dict[str, Any]:
        out = {
            "verdict": self.verdict,
            "mode": "strict" if self.strict else "register",
            "violations": [v.to_json() for v in self.violations],
            "known_issues": [{"issue": k, **v.to_json()} for k, v in self.known],
            "anomalies": [{"property": prop, **v.to_json()} for prop, v in self.anomalies],
            "unknown_reasons": list(self.reasons),
            "landings": [landing.to_json() for landing in self.landings],
        }
        if self.relaxed:
            out["relaxed"] = [r.to_json() for r in self.relaxed]
        if self.unmodelled:
            out["unmodelled_settings"] = list(self.unmodelled)
        return out

    def settings_note(self) -> str:
        """``relaxed: chord-order; not modelled: X, Y`` (empty without such settings)."""
        parts = []
        if self.relaxed:
            parts.append("relaxed: " + ", ".join(dict.fromkeys(
                f"{r.name} ({r.setting})" for r in self.relaxed)))
        if self.unmodelled:
            parts.append("not modelled: " + ", ".join(self.unmodelled))
        return "; ".join(parts)


def check(prediction: Prediction, history: History) -> Verdict:
    unmodelled = unmodelled_in(history)
    if history.harness_errors:
        return Verdict(VerdictKind.UNKNOWN, reasons=history.harness_errors, unmodelled=unmodelled)
    try:
        relaxed = relaxed_in(history)
        prediction = prediction_for(prediction, history, relaxed)
        landed = landings(history) if history.faulted else ()
        anomalies: list[tuple[str, Violation]] = []
        if history.faulted:
            found, anomalies = _fault_findings(prediction, history, relaxed)
        else:
            found, anomalies = _exact_findings(prediction, history, relaxed)
        known, unexplained = ([], found) if history.strict else match_known(found, prediction, history)
    except Exception:  # a crashing check must never read as a pass
        crash = f"checker crashed: {traceback.format_exc(limit=3)}"
        return Verdict(VerdictKind.UNKNOWN, reasons=(crash,), unmodelled=unmodelled)
    kind = VerdictKind.VIOLATION if unexplained else VerdictKind.PASS
    return Verdict(kind, tuple(unexplained), tuple(known), anomalies=tuple(anomalies), landings=landed,
                   strict=history.strict, relaxed=relaxed, unmodelled=unmodelled)


def _exact_findings(p: Prediction, h: History, relaxed: tuple[Relaxation, ...]
                    ) -> tuple[list[Violation], list[tuple[str, Violation]]]:
    """The exact checks; a finding of a property the settings take back is an anomaly."""
    found = [v for c in CHECKS for v in c(p, h)]
    props = relaxed_properties(relaxed)
    if not props:
        return found, []
    violations: list[Violation] = []
    anomalies: list[tuple[str, Violation]] = []
    for v in found:
        prop = _property_of(v, h)
        if prop in props:
            anomalies.append((prop, v))
        else:
            violations.append(v)
    return violations, anomalies


def _property_of(v: Violation, h: History) -> str:
    """Which promise an exact check's finding breaks (``safety`` when none can excuse it)."""
    if v.check == CheckName.LIVENESS:
        return "liveness"
    if v.check == CheckName.UNFINISHED:
        return "finished"
    if v.check == CheckName.OUTCOME and h.client.status == "FAILURE":
        return "exact_outcome"  # a failure where a value was predicted, or another class
    if v.check == CheckName.EXECUTIONS and isinstance(v.expected, int) and isinstance(v.observed, int):
        if v.expected == 0:  # an errback run for a failure the setting caused, or a safety breach
            return "exact_outcome" if (v.node or "").endswith("link_error") else SAFETY
        return "at_most_once" if v.observed > v.expected else "at_least_once"
    return SAFETY


def _fault_findings(p: Prediction, h: History, relaxed: tuple[Relaxation, ...] = ()
                    ) -> tuple[list[Violation], list[tuple[str, Violation]]]:
    promised = weakened(promise(DELIVERIES[h.delivery], parse_plan(h.faults, "history.faults"),
                                broker_of(h)), relaxed)
    violations: list[Violation] = []
    anomalies: list[tuple[str, Violation]] = []
    for c in FAULT_CHECKS:
        for prop, v in c(p, h):  # prompt redelivery: its check runs only where it is promised
            if prop == SAFETY or getattr(promised, prop, True):
                violations.append(v)
            else:
                anomalies.append((prop, v))
    return violations, anomalies
