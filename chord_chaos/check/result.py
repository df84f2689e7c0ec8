"""A checked run as data: the job, the prediction, the history (and where it is saved), the verdict.

What every runner returns and every report, campaign and command reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chord_chaos.check.events import executions_by_node
from chord_chaos.check.history import History
from chord_chaos.check.verdict import Verdict
from chord_chaos.models.canvas import Workload
from chord_chaos.models.semantics import Prediction


@dataclass(frozen=True)
class Job:
    """A canvas to run, and the label its results carry (a file name, a scenario run)."""

    label: str
    workload: Workload


@dataclass(frozen=True)
class RunResult:
    """One checked run: the job, the model's prediction, what happened, and the verdict."""

    job: Job
    prediction: Prediction
    history: History
    verdict: Verdict
    history_path: Path

    def to_json(self) -> dict[str, Any]:
        observed = self.history.client.to_json()
        observed["executions"] = executions_by_node(self.history.events)
        predicted = {k: v for k, v in self.prediction.to_json().items()
                     if k in ("status", "value", "error", "executions")}
        return {"file": self.job.label, "run": self.history.run, **self.verdict.to_json(),
                "observed": observed, "predicted": predicted,
                "history": str(self.history_path)}
