"""The checker: Prediction + History -> Verdict (pass, violation or unknown).

A harness failure (a worker that never started, a lost ledger, a fault the nemesis could not
apply or heal) or a crash of a check is ``unknown``, never a pass. Violations that match an
entry of the known-issues register are reported under ``known_issues`` and do not make the
verdict a violation, unless the history was checked strictly (``--strict``: no excuses).
Under faults, a finding of a property Celery does not promise for the run's delivery
configuration and faults is an anomaly: reported, never a failure.
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
from chord_chaos.models.faults import parse_plan
from chord_chaos.models.guarantees import DELIVERIES, promise
from chord_chaos.models.semantics import Prediction
from chord_chaos.models.vocabulary import VerdictKind


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    violations: tuple[Violation, ...] = ()
    known: tuple[tuple[str, Violation], ...] = ()
    reasons: tuple[str, ...] = field(default=())
    anomalies: tuple[tuple[str, Violation], ...] = ()  # (property not promised, what happened)
    landings: tuple[Landing, ...] = ()  # whether each applied fault hit work in flight
    strict: bool = False  # checked with no known-issue excuses

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "mode": "strict" if self.strict else "register",
            "violations": [v.to_json() for v in self.violations],
            "known_issues": [{"issue": k, **v.to_json()} for k, v in self.known],
            "anomalies": [{"property": prop, **v.to_json()} for prop, v in self.anomalies],
            "unknown_reasons": list(self.reasons),
            "landings": [landing.to_json() for landing in self.landings],
        }


def check(prediction: Prediction, history: History) -> Verdict:
    if history.harness_errors:
        return Verdict(VerdictKind.UNKNOWN, reasons=history.harness_errors)
    try:
        landed = landings(history) if history.faulted else ()
        anomalies: list[tuple[str, Violation]] = []
        if history.faulted:
            found, anomalies = _fault_findings(prediction, history)
        else:
            found = [v for c in CHECKS for v in c(prediction, history)]
        known, unexplained = ([], found) if history.strict else match_known(found, prediction, history)
    except Exception:  # a crashing check must never read as a pass
        crash = f"checker crashed: {traceback.format_exc(limit=3)}"
        return Verdict(VerdictKind.UNKNOWN, reasons=(crash,))
    kind = VerdictKind.VIOLATION if unexplained else VerdictKind.PASS
    return Verdict(kind, tuple(unexplained), tuple(known), anomalies=tuple(anomalies), landings=landed,
                   strict=history.strict)


def _fault_findings(p: Prediction, h: History) -> tuple[list[Violation], list[tuple[str, Violation]]]:
    promised = promise(DELIVERIES[h.delivery], parse_plan(h.faults, "history.faults"))
    violations: list[Violation] = []
    anomalies: list[tuple[str, Violation]] = []
    for c in FAULT_CHECKS:
        for prop, v in c(p, h):
            if prop == SAFETY or getattr(promised, prop):
                violations.append(v)
            else:
                anomalies.append((prop, v))
    return violations, anomalies
