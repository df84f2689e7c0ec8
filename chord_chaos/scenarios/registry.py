"""The scenario registry: every scenario by name. An unknown name is an error listing the known ones."""

from __future__ import annotations

from chord_chaos.models.vocabulary import BACKEND_CHOICES, BROKERS
from chord_chaos.scenarios.fault_scenarios import FAULT_SCENARIOS
from chord_chaos.scenarios.patterns import PATTERN_SCENARIOS
from chord_chaos.scenarios.scenario import Scenario


class ScenarioError(ValueError):
    """An unknown scenario or backend; the message lists the valid ones."""


def registry() -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for s in (*PATTERN_SCENARIOS, *FAULT_SCENARIOS):
        if s.name in found:
            raise ValueError(f"two scenarios are named {s.name!r}")
        found[s.name] = s
    return found


def pairs_of(scenario: Scenario, broker: str) -> list[str]:
    """The backends ``scenario`` runs on with ``broker`` (PostgreSQL included)."""
    return [b for b in scenario.backends if scenario.runs_on(b, broker)]


def select(names: list[str] | None, backends: list[str] | None,
           broker: str = "redis") -> list[tuple[Scenario, str]]:
    """(scenario, backend) pairs to run on ``broker``: the named scenarios (default all) on the
    named backends (default each scenario's own but postgres), where each makes sense; a name
    that does not exist is a ScenarioError."""
    known = registry()
    if broker not in BROKERS:
        raise ScenarioError(f"unknown broker {broker!r}; use one of {', '.join(BROKERS)}")
    for b in backends or []:
        if b not in BACKEND_CHOICES:
            raise ScenarioError(f"unknown backend {b!r}; use one of {', '.join(BACKEND_CHOICES)}")
    for n in names or []:
        if n not in known:
            raise ScenarioError(f"unknown scenario {n!r}; run 'chord-chaos scenarios' to list them "
                                f"({', '.join(known)})")
    chosen = [known[n] for n in dict.fromkeys(names)] if names else list(known.values())
    pairs = [(s, b) for s in chosen for b in pairs_of(s, broker)
             if (b in backends if backends else b in s.default_backends)]
    if not pairs:
        raise ScenarioError(f"no scenario of {', '.join(s.name for s in chosen)} runs on "
                            f"{', '.join(backends or ['its backends'])} with the {broker} broker; "
                            "drop --backend, change --broker or pick another scenario")
    return pairs
