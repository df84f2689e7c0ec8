"""A scenario is data (workload strategy + fault-plan strategy + backends + delivery
configuration), never a subclass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from chord_chaos.models.canvas import Task, Workload, walk
from chord_chaos.models.faults import FaultPlan, fit_anchors, node_role
from chord_chaos.models.guarantees import DELIVERIES
from chord_chaos.models.ops import NEW_STYLE_ERRBACKS
from chord_chaos.models.semantics import predict
from chord_chaos.models.vocabulary import BACKEND_CHOICES, BROKERS, POSTGRES


def predicted_starts(workload: Workload) -> dict[str, int]:
    """Starts per role that a fault-free run of ``workload`` makes and a latch can hold (every
    execution of a task but an inline errback, which has no message and no latch)."""
    ops = {path: c.op for path, c in walk(workload.canvas) if isinstance(c, Task)}
    starts: dict[str, int] = {}
    for node, n in predict(workload).executions.items():
        if n and ops.get(node) not in NEW_STYLE_ERRBACKS:
            starts[node_role(node)] = starts.get(node_role(node), 0) + n
    return starts


@dataclass(frozen=True)
class Scenario:
    """``backends`` and ``brokers`` say where it makes sense: a PostgreSQL restart needs the
    ``postgres`` backend, a RabbitMQ restart the ``rabbitmq`` broker. ``postgres`` runs only
    when asked for (``--backend postgres``), the broker is the command's (``--broker``)."""

    name: str
    summary: str
    workloads: Callable[[], st.SearchStrategy[Workload]]
    faults: Callable[..., st.SearchStrategy[FaultPlan]]  # (backend, broker=) -> plans
    delivery: str = "acks-late"
    backends: tuple[str, ...] = BACKEND_CHOICES
    brokers: tuple[str, ...] = BROKERS
    restarts: str = ""  # the server it kills besides Redis (rabbitmq, postgres): a local cluster's

    def cases(self, backend: str, broker: str = "redis") -> st.SearchStrategy[tuple[Workload, FaultPlan]]:
        """(workload, fault plan) drawn together, so that shrinking minimises both; each start
        anchor fitted onto a start the canvas has, so that every drawn fault comes due."""
        return st.tuples(self.workloads(), self.faults(backend, broker=broker)).map(
            lambda case: (case[0], fit_anchors(case[1], predicted_starts(case[0]))))

    def runs_on(self, backend: str, broker: str) -> bool:
        """Whether it makes sense on this cluster: listed, and its faults have a target there."""
        if backend not in self.backends or broker not in self.brokers:
            return False
        try:
            self.faults(backend, broker=broker)
        except ValueError:
            return False
        return True

    @property
    def default_backends(self) -> tuple[str, ...]:
        """What it runs on without --backend: PostgreSQL only when asked for."""
        return tuple(b for b in self.backends if b != POSTGRES)

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERIES:
            raise ValueError(f"scenario {self.name}: unknown delivery {self.delivery!r}")
        if not set(self.backends) <= set(BACKEND_CHOICES):
            raise ValueError(f"scenario {self.name}: unknown backend in {self.backends}")
        if not set(self.brokers) <= set(BROKERS):
            raise ValueError(f"scenario {self.name}: unknown broker in {self.brokers}")
