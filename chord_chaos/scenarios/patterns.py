"""The real-world patterns of ../shared/seeds/, each under a mix of every fault kind.

The workload is the seed canvas itself (``canvases/seeds/<file>.json``); the fault plan is
drawn from every fault kind, so a pattern meets latency, resets, partitions, kills and Redis
restarts. The delivery is ``acks-late``: what users who care about lost tasks turn on.
"""

from __future__ import annotations

from functools import partial

from hypothesis import strategies as st

from chord_chaos.models.canvas import Workload
from chord_chaos.models.fault_strategies import fault_plans
from chord_chaos.scenarios.scenario import Scenario
from chord_chaos.scenarios.workloads import seed_workload

# scenario name -> (seed file, one line)
PATTERNS = {
    "map-reduce": ("map_reduce", "chord of mul tasks reduced by tsum"),
    "report-gathering": ("report_gathering", "reports gathered from a group into one summary"),
    "chunk-statistics": ("chunk_statistics", "statistics per chunk, combined in a chord body"),
    "health-check": ("health_check", "service checks fanned out, one verdict"),
    "batch-with-notification": ("batch_with_notification", "a batch chord, then a notification step"),
    "fan-out-fan-in": ("fan_out_fan_in", "split, a group of chunks, merge"),
    "error-handling": ("error_handling", "a failing header task with an errback on the chord"),
    "hierarchical-rollup": ("hierarchical_rollup", "chords inside a chord's header (team, dept, org)"),
    "dynamic-chord": ("dynamic_chord", "a chord called with apply-time arguments"),
    "multi-stage-etl": ("multi_stage_etl", "extract chord, transform chord, load, in a chain"),
    "scatter-gather": ("scatter_gather", "requests scattered to services, replies gathered"),
    "ab-test": ("ab_test", "two variants in parallel, compared in the body"),
    "multi-tenant": ("multi_tenant", "one chord per tenant inside a group"),
}


def _fixed(name: str) -> st.SearchStrategy[Workload]:
    return st.just(seed_workload(name))


PATTERN_SCENARIOS = tuple(
    Scenario(name, f"{summary}; every fault kind", partial(_fixed, seed), partial(fault_plans))
    for name, (seed, summary) in PATTERNS.items()
)
