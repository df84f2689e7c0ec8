"""The scenario registry: a scenario is data (workload strategy + fault-plan strategy + backends
+ delivery configuration), never a subclass. An unknown name is an error listing the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from chord_chaos.models.canvas import Workload
from chord_chaos.models.faults import FaultPlan
from chord_chaos.models.guarantees import DELIVERIES

BACKENDS = ("redis", "database")


class ScenarioError(ValueError):
    """An unknown scenario or backend; the message lists the valid ones."""


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    workloads: Callable[[], st.SearchStrategy[Workload]]
    faults: Callable[[str], st.SearchStrategy[FaultPlan]]  # backend -> plans
    delivery: str = "acks-late"
    backends: tuple[str, ...] = BACKENDS

    def cases(self, backend: str) -> st.SearchStrategy[tuple[Workload, FaultPlan]]:
        """(workload, fault plan) drawn together, so that shrinking minimises both."""
        return st.tuples(self.workloads(), self.faults(backend))

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERIES:
            raise ValueError(f"scenario {self.name}: unknown delivery {self.delivery!r}")
        if not set(self.backends) <= set(BACKENDS):
            raise ValueError(f"scenario {self.name}: unknown backend in {self.backends}")


def registry() -> dict[str, Scenario]:
    from chord_chaos.scenarios.fault_scenarios import FAULT_SCENARIOS
    from chord_chaos.scenarios.patterns import PATTERN_SCENARIOS

    found: dict[str, Scenario] = {}
    for s in (*PATTERN_SCENARIOS, *FAULT_SCENARIOS):
        if s.name in found:
            raise ValueError(f"two scenarios are named {s.name!r}")
        found[s.name] = s
    return found


def select(names: list[str] | None, backends: list[str] | None) -> list[tuple[Scenario, str]]:
    """(scenario, backend) pairs to run: the named scenarios (default all) on the named backends
    (default each scenario's own); a name that does not exist is a ScenarioError."""
    known = registry()
    for b in backends or []:
        if b not in BACKENDS:
            raise ScenarioError(f"unknown backend {b!r}; use one of {', '.join(BACKENDS)}")
    for n in names or []:
        if n not in known:
            raise ScenarioError(f"unknown scenario {n!r}; run 'chord-chaos scenarios' to list them "
                                f"({', '.join(known)})")
    chosen = [known[n] for n in dict.fromkeys(names)] if names else list(known.values())
    pairs = [(s, b) for s in chosen for b in s.backends if not backends or b in backends]
    if not pairs:
        raise ScenarioError(f"no scenario of {', '.join(s.name for s in chosen)} runs on "
                            f"{', '.join(backends or [])}; drop --backend or pick another scenario")
    return pairs
