"""The seed examples on real workers, both backends: every one agrees with the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from chord_chaos.check.result import Job
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.models.canvas import loads_workload, parse_workload
from chord_chaos.models.vocabulary import BACKENDS
from tests.helpers import SEEDS_DIR

pytestmark = pytest.mark.cluster

SEEDS = sorted(SEEDS_DIR.glob("*.json"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_examples_pass_on_real_celery(backend: str, tmp_path: Path) -> None:
    jobs = [Job(p.stem, loads_workload(p.read_text(), str(p))) for p in SEEDS]
    with Cluster(backend=backend, run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        results = list(BatchRunner(c, tmp_path / "out", timeout=20).run(jobs, batch=10))
    failed = {r.job.label: r.verdict.to_json() for r in results if r.verdict.verdict != "pass"}
    assert not failed
    assert len(results) == len(SEEDS)


# Shapes on which random exploration once found the model wrong (fixed in the model, after
# reading Celery's _fold_chain / group.__or__ and _handle_group_chord_error): kept as a
# regression on real workers.
_EB = {"task": "log_error"}
EXPLORED: dict[str, dict[str, object]] = {
    "group-led-nested-then-group": {"chain": [
        {"group": [{"group": [{"task": "tag", "args": ["a"]}]}]},
        {"group": [{"task": "tag", "args": ["b"]}, {"task": "tag", "args": ["c"]}]}]},
    "group-led-nested-failing": {"chain": [
        {"group": [{"group": [{"task": "fail", "args": ["h"], "link_error": _EB}]}]},
        {"group": [{"task": "tag", "args": ["b"], "link_error": _EB},
                   {"task": "tag", "args": ["c"], "link_error": _EB}]}]},
    "chord-body-chain-of-a-group-errbacks": {"chord": {
        "header": [{"task": "fail", "args": ["h"]}],
        "body": {"chain": [{"group": [{"task": "tag", "args": ["b"], "link_error": _EB},
                                      {"task": "tag", "args": ["c"], "link_error": _EB}]}]}}},
    # found by swarm-drawn canvases: chord.__or__ attaches the step to the group body, which
    # makes it a chord's body, so a failing member stores ChordError there
    "step-after-failing-group-body": {"chain": [
        {"chord": {"header": [{"task": "tag", "args": ["a"]}],
                   "body": {"group": [{"task": "tag", "args": ["b"]}, {"task": "fail", "args": ["c"]}]}}},
        {"task": "tag", "args": ["d"], "link_error": _EB}, {"task": "tag", "args": ["e"]}]},
    "group-led-chain-of-tasks-is-the-chord-body": {"chain": [
        {"group": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}]},
        {"task": "fail", "args": ["c"], "link_error": _EB},
        {"task": "tag", "args": ["d"], "immutable": True}]},
    "group-led-then-a-chain-body": {"chain": [
        {"group": [{"task": "tag", "args": ["a"], "link_error": _EB},
                   {"task": "fail", "args": ["b"], "link_error": _EB}]},
        {"chain": [{"task": "fail", "args": ["c"], "link_error": _EB}]}]},
    "one-step-chains-each-unroll-a-one-member-group": {"chain": [
        {"chain": [{"group": [{"group": [{"task": "tag", "args": ["t0"], "immutable": True}]}]}]}]},
    "a-longer-chain-keeps-the-once-unrolled-group": {"chain": [
        {"task": "tag", "args": ["x"]},
        {"chain": [{"group": [{"group": [{"task": "tag", "args": ["t0"]}]}]},
                   {"task": "tag", "args": ["y"]}]}]},
    "a-one-step-chain-of-a-group-leads-like-the-group": {"chain": [
        {"chain": [{"group": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}]}]},
        {"task": "fail", "args": ["c"], "link_error": _EB},
        {"task": "tag", "args": ["d"], "immutable": True}]},
    "one-step-after-failing-group-body": {"chain": [
        {"chord": {"header": [{"task": "tag", "args": ["a"]}],
                   "body": {"group": [{"task": "tag", "args": ["b"]}, {"task": "fail", "args": ["c"]}]}}},
        {"task": "tag", "args": ["d"], "link_error": _EB}]},
    # group-led chains composed by group.__or__, chord.__or__ and _chain.__or__
    "group-led-one-member-group-body-failing": {"chain": [
        {"group": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}]},
        {"group": [{"task": "tag", "args": ["c"], "link_error": _EB}]},
        {"task": "tag", "args": ["z"], "link_error": _EB}]},
    "group-led-three-groups-then-a-task": {"chain": [
        {"group": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}]},
        {"group": [{"task": "tag", "args": ["c"], "link_error": _EB}, {"task": "tag", "args": ["d"]}]},
        {"group": [{"task": "tag", "args": ["e"]}, {"task": "tag", "args": ["f"]}]},
        {"task": "tag", "args": ["z"], "link_error": _EB}]},
    # found by fuzz: a nested group-led chain is a chord when the outer chain merges it, so
    # its leading one-member group stays a one-member header (its value a list of one)
    "nested-group-led-chain-keeps-a-one-member-header": {"chain": [
        {"chain": [{"group": [{"group": [{"task": "sleep", "args": [0.02, "a"], "immutable": True,
                                          "link": {"task": "tag", "args": ["l"]}}]}]},
                   {"chain": [{"group": [{"task": "fail", "args": ["b"]},
                                         {"task": "tag", "args": ["c"]}]},
                              {"chain": [{"task": "tag", "args": ["d"], "immutable": True}]}]}]},
        {"chain": [{"task": "tag", "args": ["e"], "immutable": True}]}]},
    # callbacks on chords whose body is not a task (_chord.link / link_error -> group.link:
    # the first member, immutable; group.link_error: each member; a chain keeps them)
    "chord-link-and-old-style-errback-on-a-group-body": {
        "chord": {"header": [{"task": "tag", "args": ["a"]}, {"task": "tag", "args": ["b"]}],
                  "body": {"group": [{"task": "tag", "args": ["c"]}, {"task": "fail", "args": ["d"]}]}},
        "link": {"task": "tag", "args": ["L"]}, "link_error": {"task": "tag", "args": ["E"]}},
    "chord-link-and-errback-on-a-chain-body-in-a-chain": {"chain": [
        {"task": "tag", "args": ["p"]},
        {"chord": {"header": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}],
                   "body": {"chain": [{"task": "tag", "args": ["c"]}, {"task": "tag", "args": ["d"]}]}},
         "link": {"task": "tag", "args": ["L"]}, "link_error": {"task": "tag", "args": ["E"]}},
        {"task": "tag", "args": ["q"]}]},
    # task_allow_error_cb_on_chord_header reaching a nested header chord: its header tasks hold
    # the errback once, its body twice (the immutable-option copy and the original)
    "chord-errback-flag-reaches-a-nested-header-chord": {
        "canvas": {"chord": {"header": [
            {"chord": {"header": [{"task": "tag", "args": ["x"]}, {"task": "tag", "args": ["y"]}],
                       "body": {"task": "fail", "args": ["z"]}}},
            {"task": "tag", "args": ["w"]}], "body": {"task": "tag", "args": ["b"]}},
            "link_error": {"task": "tag", "args": ["E"]}},
        "config": {"task_allow_error_cb_on_chord_header": True}},
    # a group body's errbacks on ChordError: Redis gives ChordError with a GroupResult in the
    # header, the database backend the failed member's exception
    "group-body-errback-class-with-a-group-result-header": {"chord": {"header": [
        {"chain": [{"task": "tag", "args": ["a"]},
                   {"group": [{"task": "fail", "args": ["b"]}, {"task": "tag", "args": ["c"]}]}]},
        {"task": "tag", "args": ["d"]}],
        "body": {"group": [{"task": "tag", "args": ["e"], "link_error": _EB},
                           {"task": "tag", "args": ["f"]}]}}, "link_error": _EB},
    "a-chain-of-a-group-body-takes-the-next-step-into-a-chord": {"chain": [
        {"chord": {"header": [{"task": "fail", "args": ["a"]}],
                   "body": {"chain": [{"group": [{"task": "tag", "args": ["b"], "link_error": _EB},
                                                 {"task": "tag", "args": ["c"]}]}]}}},
        {"task": "tag", "args": ["d"]}]},
    "group-led-task-body-then-a-chain": {"chain": [
        {"group": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}]},
        {"task": "tag", "args": ["t"], "link_error": _EB},
        {"chain": [{"task": "tag", "args": ["u"]}, {"task": "tag", "args": ["v"]}]}]},
    # found by the dev-profile property test: chain(group(a, b), x) is built as a chord, so a
    # chord's errback reaches it as a nested header chord (on its body), and runs twice
    "group-led-chain-in-a-header-is-a-nested-chord-for-errbacks": {"chord": {
        "header": [{"chain": [{"group": [{"task": "tag", "args": ["a"]}, {"task": "tag", "args": ["b"]}]},
                              {"task": "fail", "args": ["c"]}]}],
        "body": {"task": "tag", "args": ["d"]}}, "link_error": _EB},
    "a-one-member-group-led-chain-in-a-header-is-not": {"chord": {
        "header": [{"chain": [{"group": [{"task": "tag", "args": ["a"]}]},
                              {"task": "fail", "args": ["c"]}]}],
        "body": {"task": "tag", "args": ["d"]}}, "link_error": _EB},
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_exploration_found_pass_on_real_celery(backend: str, tmp_path: Path) -> None:
    jobs = [Job(name, parse_workload(canvas)) for name, canvas in EXPLORED.items()]
    with Cluster(backend=backend, run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        results = list(BatchRunner(c, tmp_path / "out", timeout=20).run(jobs))
    assert {r.job.label: r.verdict.to_json() for r in results if r.verdict.verdict != "pass"} == {}
    assert len(results) == len(EXPLORED)
