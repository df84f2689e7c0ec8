"""The checker: Prediction + History -> Verdict (pass, violation or unknown).

A harness failure (a worker that never started, a lost ledger) or a crash of a check is
``unknown``, never a pass. Violations that match an entry of the known-issues register are
reported under ``known_issues`` and do not make the verdict a violation.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from chord_chaos.harness.checks import CHECKS, Violation
from chord_chaos.harness.history import History
from chord_chaos.harness.known_issues import match_known
from chord_chaos.models.semantics import Prediction


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "pass" | "violation" | "unknown"
    violations: tuple[Violation, ...] = ()
    known: tuple[tuple[str, Violation], ...] = ()
    reasons: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "violations": [v.to_json() for v in self.violations],
            "known_issues": [{"issue": k, **v.to_json()} for k, v in self.known],
            "unknown_reasons": list(self.reasons),
        }


def check(prediction: Prediction, history: History) -> Verdict:
    if history.harness_errors:
        return Verdict("unknown", reasons=history.harness_errors)
    try:
        found = [v for c in CHECKS for v in c(prediction, history)]
        known, unexplained = match_known(found, prediction, history)
    except Exception:  # a crashing check must never read as a pass
        return Verdict("unknown", reasons=(f"checker crashed: {traceback.format_exc(limit=3)}",))
    return Verdict("violation" if unexplained else "pass", tuple(unexplained), tuple(known))
