"""Every seed example in canvases/seeds, predicted and checked against the outcome its source
document states, or that follows by hand from Celery's documented semantics (see the table in
canvases/seeds/README.md). Every expected value below is a literal worked out by hand; none is
copied from ``predict``.

Besides the final value, each seed checks how many times every task runs (each task once,
a chord body once, a body never after a failed header, an errback once per failure, a
retrying task once per attempt), what chosen tasks receive, and that every chord body gets
its header's values in header order after every header task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from chord_chaos.models.canvas import Chord, Task, Workload, loads_workload, walk
from chord_chaos.models.semantics import Prediction, predict
from tests.helpers import SEEDS_DIR

SEEDS = SEEDS_DIR

# get() on a chord whose header failed: the canvas guide ("Error handling") shows ChordError;
# AsyncResult.get() follows parents and re-raises the failed header task's own exception.
HEADER_FAILED = frozenset({"ChordError", "ExpectedException"})


@dataclass(frozen=True)
class Seed:
    value: Any = None
    errors: frozenset[str] = frozenset()  # empty: SUCCESS
    inputs: Mapping[str, list[Any]] = field(default_factory=dict)  # node -> args of its one call
    kwargs: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # node -> kwargs
    results: Mapping[str, Any] = field(default_factory=dict)  # node -> value it returns
    executions: Mapping[str, int] = field(default_factory=dict)  # exceptions to the default rule
    chord_errors: tuple[str, ...] = ()


EVENS = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]  # add(i, i) for i in range(10)

# ab_test: each variant chain tags its measurement with the variant's value.
AB_A = [["variant-a"], "measure"]
AB_B = [["variant-b"], "measure"]
# batch_with_notification
BATCH = [["item0"], ["item1"], ["item2"]]
# conditional_branches: one chord per priority class.
CRITICAL = [[["critical-1"], ["critical-2"]], "notify-critical"]
STANDARD = [[["standard-1"]], "aggregate-standard"]
BULK = [[["bulk-batch-1"], ["bulk-batch-2"]], "aggregate-bulk"]
# deep_nesting
CB3 = [[["t1"], ["t2"]], "callback3"]
CB2 = [[CB3], "callback2"]
CB1 = [[CB2], "callback1"]
# etl_pipeline: group | chord is chord(group, chord): the inner header gets the extracts.
EXTRACTS = [["extract-a"], ["extract-b"]]
VALID_A = [[EXTRACTS, "transform-a"], "validate"]
VALID_B = [[EXTRACTS, "transform-b"], "validate"]
AGGREGATE = [[VALID_A, VALID_B], "aggregate"]
LOADED = [AGGREGATE, "load"]
# fan_out_fan_in
SPLIT = ["split"]
CHUNKS = [[SPLIT, "chunk0"], [SPLIT, "chunk1"], [SPLIT, "chunk2"]]
# hierarchical_rollup
DEPT_A = [[["team1"], ["team2"]], "dept-a"]
DEPT_B = [[["team3"]], "dept-b"]
# multi_stage_etl: the extract group | transform is a chord.
TRANSFORMED = [[["extract-a"], ["extract-b"]], "transform"]
VALIDATED = [TRANSFORMED, "validate"]
# progressive_refinement
PASS1 = [[["item-1"], ["item-2"]], "collect"]
ASSESSED = [PASS1, "assess"]
PASS2 = [[[ASSESSED, "reprocess"]], "collect"]
# scatter_gather
QUERY = ["query"]
SHARDS = [[QUERY, "shard0"], [QUERY, "shard1"], [QUERY, "shard2"]]

EXPECTED: dict[str, Seed] = {
    "ab_test": Seed(
        [[AB_A, AB_B], "compare"],
        inputs={"$.chord.header[0].chain[1]": [["variant-a"], "measure"],
                "$.chord.body": [[AB_A, AB_B], "compare"]},
    ),
    "barrier_basic_chord": Seed(12, inputs={"$.chord.body": [[4, 8]]}),
    "barrier_error_callback": Seed(3, inputs={"$.chord.body": [[3]]}),
    "barrier_immutable_header": Seed(
        17,
        inputs={"$.chord.header[0]": [1, 1], "$.chord.header[1]": [10, 5],
                "$.chord.body": [[2, 15]]},
    ),
    "batch_with_notification": Seed(
        [BATCH, "notify"],
        inputs={"$.chord.body": [BATCH, "notify"], "$.chord.body.link": [[BATCH, "notify"], "sent"]},
    ),
    "canvas_guide_chain_add": Seed(
        16, inputs={"$.chain[0]": [2, 2], "$.chain[1]": [4, 4], "$.chain[2]": [8, 8]},
    ),
    "canvas_guide_chain_mul": Seed(
        640,
        inputs={"$.chain[1]": [8, 8], "$.chain[2]": [64, 10]},
        results={"$.chain[0]": 8, "$.chain[1]": 64},  # res.parent.parent.get(), res.parent.get()
    ),
    "canvas_guide_chord_error": Seed(
        errors=HEADER_FAILED,
        # "the rest of the tasks will still execute, so the third task (add.s(8, 8)) is still
        # executed even though the middle task failed"
        executions={"$.chord.body": 0},
        results={"$.chord.header[0]": 8, "$.chord.header[2]": 16},
        chord_errors=("$.chord.body",),
    ),
    "canvas_guide_chord_xsum": Seed(90, inputs={"$.chord.body": [EVENS]}),
    "canvas_guide_combined_chains": Seed(
        352,
        inputs={"$.chain[1]": [20, 2], "$.chain[2].chain[0]": [40, 4], "$.chain[2].chain[1]": [44, 8]},
    ),
    "canvas_guide_group_upgrade": Seed(90, inputs={"$.chain[1]": [EVENS]}),
    "canvas_guide_immutable_body": Seed(
        ["notify-done"], inputs={"$.chord.body": ["notify-done"]},
        results={"$.chord.header[0]": 2, "$.chord.header[1]": 4},
    ),
    "canvas_guide_immutable_chain": Seed(
        24,
        inputs={"$.chain[1]": [4, 4], "$.chain[2]": [8, 8, 8]},
        results={"$.chain[0]": 4, "$.chain[1]": 8},  # res.parent.parent.get(), res.parent.get()
    ),
    "canvas_guide_immutable_group": Seed(
        EVENS,
        inputs={f"$.chain[1].group[{i}]": [i, i] for i in range(10)},
        results={"$.chain[0]": 8},  # res.parent.get()
    ),
    "canvas_guide_link_mul": Seed(4, inputs={"$.link": [4, 16]}, results={"$.link": 64}),
    "canvas_guide_new_user_workflow": Seed(
        ["artv:contacts", "artv:welcome"],
        inputs={"$.chain[0]": [], "$.chain[1].group[0]": ["artv", ":contacts"],
                "$.chain[1].group[1]": ["artv", ":welcome"]},
        kwargs={"$.chain[0]": {"x": "artv"}, "$.chain[1].group[0]": {}},
    ),
    "canvas_guide_partial_chain": Seed(160, inputs={"$.chain[0]": [16, 4], "$.chain[1]": [20, 8]}),
    "chunk_statistics": Seed(21, inputs={"$.chord.body": [[6, 9, 6]]}),
    "conditional_branches": Seed(
        [[CRITICAL, STANDARD, BULK], "combine"],
        inputs={"$.chain[0].group[0].chord.body": [[["critical-1"], ["critical-2"]], "notify-critical"],
                "$.chain[1]": [[CRITICAL, STANDARD, BULK], "combine"]},
    ),
    "deep_nesting": Seed(CB1, inputs={"$.chord.body": [[CB2], "callback1"]}),
    "dynamic_chord": Seed(
        36,
        inputs={"$.chord.header[0]": [10, 1], "$.chord.header[1]": [10, 2],
                "$.chord.header[2]": [10, 3], "$.chord.body": [[11, 12, 13]]},
    ),
    "empty_header": Seed(0, inputs={"$.chord.body": [[]]}),
    "error_handling": Seed(
        errors=HEADER_FAILED,
        executions={"$.chord.body": 0, "$.link_error": 1},
        results={"$.chord.header[0]": ["a"], "$.chord.header[2]": ["c"],
                 "$.link_error": "ChordError"},
        chord_errors=("$.chord.body",),
    ),
    "etl_pipeline": Seed(
        ["ETL Complete"],
        inputs={"$.chain[1].chord.header[0].chain[0]": [EXTRACTS, "transform-a"],
                "$.chain[1].chord.header[1].chain[0]": [EXTRACTS, "transform-b"],
                "$.chain[1].chord.body": [[VALID_A, VALID_B], "aggregate"],
                "$.chain[2]": [AGGREGATE, "load"],
                "$.chain[3].chain[0]": [LOADED, "verify"],
                "$.chain[3].chain[1]": ["ETL Complete"]},
    ),
    "fan_out_fan_in": Seed([CHUNKS, "merge"], inputs={"$.chain[2]": [CHUNKS, "merge"]}),
    "health_check": Seed(
        [[["database"], ["cache"], ["api"], ["queue"], ["storage"]], "overall"],
    ),
    "hierarchical_rollup": Seed(
        [[DEPT_A, DEPT_B], "company"],
        inputs={"$.chord.header[1].chord.body": [[["team3"]], "dept-b"]},
    ),
    "map_reduce": Seed(30, inputs={"$.chord.body": [[2, 4, 6, 8, 10]]}),
    "multi_stage_etl": Seed(
        [[VALIDATED, "load-warehouse"], [VALIDATED, "load-lake"]],
        inputs={"$.chain[1]": [[["extract-a"], ["extract-b"]], "transform"]},
    ),
    "multi_tenant": Seed(
        [[[["t1-job1"], ["t1-job2"]], "t1-total"], [[["t2-job1"]], "t2-total"]],
    ),
    "progressive_refinement": Seed(
        [PASS2, "finalize"],
        inputs={"$.chain[1]": [PASS1, "assess"], "$.chain[2].chord.header[0]": [ASSESSED, "reprocess"]},
    ),
    "report_gathering": Seed(
        [[["sales"], ["financial"], ["customers"], ["operations"]], "report"],
    ),
    "retry_in_header": Seed(
        7, inputs={"$.chord.header[0]": [2, 5], "$.chord.body": [[5, 2]]},
        executions={"$.chord.header[0]": 3},
    ),
    "scatter_gather": Seed([SHARDS, "gather"], inputs={"$.chain[1].chord.header[0]": [QUERY, "shard0"]}),
    "scatter_gather_timeout": Seed(
        [["primary_api", "backup_api", "cache_source", "fallback_source"], "select-best"],
    ),
}


def load(name: str) -> Workload:
    path = SEEDS / f"{name}.json"
    return loads_workload(path.read_text(), str(path))


def run(name: str) -> Prediction:
    return predict(load(name))


def test_every_seed_file_has_a_hand_checked_expectation() -> None:
    assert sorted(p.stem for p in SEEDS.glob("*.json")) == sorted(EXPECTED)


def test_the_readme_table_lists_every_seed_file() -> None:
    readme = (SEEDS / "README.md").read_text()
    assert [name for name in EXPECTED if f"`{name}.json`" not in readme] == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome(name: str) -> None:
    seed, p = EXPECTED[name], run(name)
    if seed.errors:
        assert (p.status, p.value) == ("FAILURE", None)
        assert set(p.errors) == seed.errors
    else:
        assert (p.status, p.errors) == ("SUCCESS", ())
        assert p.value == seed.value
    assert p.chord_errors == seed.chord_errors


def _default_executions(w: Workload) -> dict[str, int]:
    """Each task runs once, a retrying task once per attempt, an errback not at all."""
    out: dict[str, int] = {}
    for path, node in walk(w.canvas):
        if isinstance(node, Task):
            if path.endswith(".link_error"):
                out[path] = 0
            elif node.op == "retry":
                out[path] = int(node.args[0]) + 1
            else:
                out[path] = 1
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_execution_counts(name: str) -> None:
    w = load(name)
    assert run(name).executions == {**_default_executions(w), **EXPECTED[name].executions}


@pytest.mark.parametrize("name", sorted(n for n, s in EXPECTED.items() if s.inputs or s.results))
def test_inputs_and_results(name: str) -> None:
    seed, p = EXPECTED[name], run(name)
    for node, args in seed.inputs.items():
        assert [c.args for c in p.calls[node]] == [args], node
    for node, kwargs in seed.kwargs.items():
        assert [c.kwargs for c in p.calls[node]] == [kwargs], node
    for node, value in seed.results.items():
        assert [c.result for c in p.calls[node]] == [{"ok": value}], node


def _plain_chords(w: Workload) -> list[tuple[str, Chord]]:
    """Chords whose header members and body are single tasks and whose body takes the list."""
    return [
        (path, c) for path, c in walk(w.canvas)
        if isinstance(c, Chord) and isinstance(c.body, Task) and not c.body.immutable
        and all(isinstance(h, Task) for h in c.header)
    ]


@pytest.mark.parametrize("name", sorted(n for n, s in EXPECTED.items() if not s.errors))
def test_every_body_gets_its_header_values_in_header_order_after_the_header(name: str) -> None:
    w, p = load(name), run(name)
    for path, chord in _plain_chords(w):
        headers = [f"{path}.chord.header[{i}]" for i in range(len(chord.header))]
        body = f"{path}.chord.body"
        (call,) = p.calls[body]
        assert call.args is not None
        header_values = []
        for h in headers:
            (hcall,) = p.calls[h]
            assert hcall.result is not None
            header_values.append(hcall.result["ok"])
        assert call.args[0] == header_values, body
        assert {(h, body) for h in headers} <= set(p.happens_before), body


def test_the_plain_chord_check_covers_most_seeds() -> None:
    covered = [n for n, s in EXPECTED.items() if not s.errors and _plain_chords(load(n))]
    assert len(covered) >= 15
