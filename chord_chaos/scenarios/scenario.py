"""A scenario is data (workload strategy + fault-plan strategy + backends + delivery
configuration), never a subclass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from chord_chaos.models.canvas import Workload
from chord_chaos.models.faults import FaultPlan
from chord_chaos.models.guarantees import DELIVERIES
from chord_chaos.models.vocabulary import BACKENDS, Backend


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    workloads: Callable[[], st.SearchStrategy[Workload]]
    faults: Callable[[str], st.SearchStrategy[FaultPlan]]  # backend -> plans
    delivery: str = "acks-late"
    backends: tuple[Backend, ...] = BACKENDS

    def cases(self, backend: str) -> st.SearchStrategy[tuple[Workload, FaultPlan]]:
        """(workload, fault plan) drawn together, so that shrinking minimises both."""
        return st.tuples(self.workloads(), self.faults(backend))

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERIES:
            raise ValueError(f"scenario {self.name}: unknown delivery {self.delivery!r}")
        if not set(self.backends) <= set(BACKENDS):
            raise ValueError(f"scenario {self.name}: unknown backend in {self.backends}")
