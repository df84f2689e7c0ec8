"""The harness's end of the latches (``harness/worker/latch.py``): arm a run's latches before it
is submitted, find the execution a latch holds, release it once its fault is applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from chord_chaos.check.events import Event
from chord_chaos.harness.infra.files import write_atomic
from chord_chaos.harness.worker.latch import LATCHES, held_path, release_path, run_dir
from chord_chaos.models.faults import FaultPlan


def latched(plan: FaultPlan) -> list[int]:
    """The faults that land by construction: those anchored at a task's start."""
    return [i for i, f in enumerate(plan.faults) if f.anchor is not None and f.anchor.event == "start"]


class Latches:
    """One run's latches; ``clear()`` removes its control files."""

    def __init__(self, ledger_dir: Path, run: str, plan: FaultPlan) -> None:
        self.dir = Path(run_dir(str(ledger_dir), run))
        self.faults = latched(plan)
        self.released: set[int] = set()
        if self.faults:
            self.dir.mkdir(parents=True, exist_ok=True)
            latches: list[dict[str, Any]] = []
            for i in self.faults:
                anchor = plan.faults[i].anchor
                assert anchor is not None
                latches.append({"fault": i, "role": anchor.role, "count": anchor.count})
            write_atomic(self.dir / LATCHES, json.dumps(latches))

    def holds(self, fault: int) -> bool:
        return fault in self.faults

    def held(self, fault: int) -> Event | None:
        """The start that fault's latch holds, once a worker holds it."""
        try:
            obj = json.loads(Path(held_path(str(self.dir), fault)).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Event.from_json({**obj, "ev": "start"})

    def release(self, fault: int) -> None:
        if fault in self.faults and fault not in self.released:
            Path(release_path(str(self.dir), fault)).touch()
            self.released.add(fault)

    def release_all(self) -> None:
        for fault in self.faults:
            self.release(fault)

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
