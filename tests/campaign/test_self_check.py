"""The campaign's self-check: chaos that met idle processes fails it, loudly and by name."""

from __future__ import annotations

from collections import Counter

from chord_chaos.campaign.self_check import coverage_lines, landing_lines, self_check
from chord_chaos.campaign.summary import Summary, Tally


def _tally(scenario: str, landings: dict[str, int], runs: tuple[int, int] = (0, 0)) -> Tally:
    return Tally(scenario, "redis", "acks-late", landings=Counter(landings), landed_runs=runs[0],
                 faulted_runs=runs[1])


def test_process_faults_that_mostly_missed_fail_the_self_check() -> None:
    idle = Summary([_tally("map-reduce", {"kill_child:hit": 3, "kill_child:missed": 7,
                                          "latency:hit": 50})], [])
    [problem] = self_check(idle, 0.8)
    assert "3/10 (30 %) of the process faults" in problem
    landed = Summary([_tally("map-reduce", {"kill_child:hit": 9, "kill_worker:missed": 1,
                                            "latency:missed": 50})], [])
    assert self_check(landed, 0.8) == []


def test_too_little_evidence_judges_nothing() -> None:
    assert self_check(Summary([_tally("map-reduce", {"kill_child:missed": 4})], []), 0.8) == []


def test_a_mid_scenario_must_land_in_nearly_every_run() -> None:
    missed_two = _tally("worker-killed-mid-header", {"kill_worker:hit": 18, "kill_worker:missed": 2},
                        runs=(18, 20))
    [problem] = self_check(Summary([missed_two], []), 0.8)
    assert problem.startswith("worker-killed-mid-header/redis promises a landing")
    other = _tally("map-reduce", {"kill_worker:hit": 18, "kill_worker:missed": 2}, runs=(18, 20))
    assert self_check(Summary([other], []), 0.8) == []
    one_miss = _tally("worker-killed-mid-header", {"kill_worker:hit": 19, "kill_worker:missed": 1},
                      runs=(19, 20))
    assert self_check(Summary([one_miss], []), 0.8) == []


def test_landings_and_coverage_read_per_kind_and_name_what_was_never_drawn() -> None:
    t = _tally("s", {"kill_child:hit": 2, "kill_child:missed": 1, "latency:unmeasured": 4})
    t.features.update({"chord": 3, "outlived chord-unlock-poll": 1})
    t.hits.update({"kill_child x header": 2})
    summary = Summary([t], [])
    [line] = landing_lines(summary)
    assert "process faults 2/3 (67 %)" in line and "latency 0/0, 4 unmeasured" in line
    lines = coverage_lines(summary, ["chord", "group-body"])
    assert "shapes drawn: chord 3" in lines and "fault x role hit: kill_child x header 2" in lines
    assert "timeouts outlived: chord-unlock-poll 1" in lines and "never drawn: group-body" in lines


def test_effectiveness_survives_the_summary_round_trip_and_merging() -> None:
    t = _tally("s", {"kill_child:hit": 2}, runs=(2, 2))
    t.features.update({"chord": 1})
    back = Tally.from_json(t.to_json())
    back.absorb(Tally.from_json(t.to_json()))
    assert back.landings == Counter({"kill_child:hit": 4}) and back.features["chord"] == 2
    assert (back.landed_runs, back.faulted_runs) == (4, 4) and back.process_effectiveness() == (4, 4)
