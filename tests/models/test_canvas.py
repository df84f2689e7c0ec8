"""The canvas format: parsing into typed nodes, serialising back, node ids, error paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chord_chaos.models.canvas import (
    CanvasError,
    Chain,
    Chord,
    Group,
    Task,
    Workload,
    canvas_to_json,
    children,
    loads_workload,
    parse_canvas,
    parse_workload,
    size,
    task_ids,
    walk,
    workload_to_json,
)
from tests.helpers import SEEDS_DIR

SEED_FILES = sorted(SEEDS_DIR.glob("*.json"))

# A canvas with every kind of node and both callbacks, in canonical form (defaults omitted).
EVERYTHING: dict[str, Any] = {"chain": [
    {"task": "tag", "args": ["a"], "link": {"task": "tag", "args": ["L"]},
     "link_error": {"task": "log_error"}},
    {"group": [{"task": "add", "args": [1], "kwargs": {"z": 2}},
               {"task": "tag", "args": ["b"], "immutable": True}]},
    {"chord": {"header": [{"chain": [{"task": "identity"}]}, {"group": []}],
               "body": {"task": "tsum"}},
     "link": {"task": "tag", "args": ["done"]}, "link_error": {"task": "log_error"}},
]}

EVERYTHING_IDS = [
    "$",
    "$.chain[0]",
    "$.chain[0].link",
    "$.chain[0].link_error",
    "$.chain[1]",
    "$.chain[1].group[0]",
    "$.chain[1].group[1]",
    "$.chain[2]",
    "$.chain[2].chord.header[0]",
    "$.chain[2].chord.header[0].chain[0]",
    "$.chain[2].chord.header[1]",
    "$.chain[2].chord.body",
    "$.chain[2].link",
    "$.chain[2].link_error",
]


# ------------------------------------------------------------------ parsing


def test_parse_builds_typed_nodes() -> None:
    c = parse_canvas(EVERYTHING)
    assert isinstance(c, Chain) and len(c.items) == 3
    first, second, third = c.items
    assert first == Task("tag", ("a",), {}, False, Task("tag", ("L",)), Task("log_error"))
    assert second == Group((Task("add", (1,), {"z": 2}), Task("tag", ("b",), immutable=True)))
    assert isinstance(third, Chord)
    assert third.header == (Chain((Task("identity"),)), Group(()))
    assert third.body == Task("tsum")
    assert third.link == Task("tag", ("done",)) and third.link_error == Task("log_error")


def test_task_defaults() -> None:
    t = parse_canvas({"task": "tag"})
    assert t == Task("tag") and t == Task("tag", (), {}, False, None, None)


def test_a_bare_canvas_and_its_wrapper_are_the_same_workload() -> None:
    bare = parse_workload({"task": "tag", "args": ["a"]})
    wrapped = parse_workload({"canvas": {"task": "tag", "args": ["a"]}})
    assert bare == wrapped == Workload(Task("tag", ("a",)))


def test_wrapper_args_kwargs_and_config() -> None:
    w = parse_workload({"canvas": {"task": "add"}, "args": [1, 2], "kwargs": {"z": 3},
                        "config": {"task_allow_error_cb_on_chord_header": True}})
    assert w.args == (1, 2) and w.kwargs == {"z": 3}
    assert w.allow_error_cb_on_chord_header
    assert not parse_workload({"task": "tag"}).allow_error_cb_on_chord_header


def test_a_bare_canvas_may_carry_config() -> None:
    w = parse_workload({"task": "tag", "config": {"task_allow_error_cb_on_chord_header": True}})
    assert w.canvas == Task("tag") and w.allow_error_cb_on_chord_header


# ------------------------------------------------------------------ serialising


def test_canonical_form_round_trips() -> None:
    assert canvas_to_json(parse_canvas(EVERYTHING)) == EVERYTHING
    c = parse_canvas(EVERYTHING)
    assert parse_canvas(canvas_to_json(c)) == c


def test_defaults_are_omitted() -> None:
    verbose = {"task": "tag", "args": [], "kwargs": {}, "immutable": False}
    assert canvas_to_json(parse_canvas(verbose)) == {"task": "tag"}
    assert workload_to_json(parse_workload({"canvas": verbose, "args": [], "kwargs": {},
                                            "config": {}})) == {"canvas": {"task": "tag"}}


def test_workload_to_json_keeps_args_kwargs_and_config() -> None:
    obj = {"canvas": {"task": "add"}, "args": [1, 2], "kwargs": {"z": 3},
           "config": {"task_allow_error_cb_on_chord_header": True}}
    assert workload_to_json(parse_workload(obj)) == obj
    assert parse_workload(workload_to_json(parse_workload(obj))) == parse_workload(obj)


def test_json_values_survive_the_round_trip() -> None:
    args = [None, True, 1.5, "s", [1, [2]], {"k": {"n": [3]}}]
    obj = {"task": "tag", "args": args}
    assert canvas_to_json(parse_canvas(obj)) == obj
    assert json.loads(json.dumps(canvas_to_json(parse_canvas(obj)))) == obj


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_every_seed_file_round_trips_and_is_in_canonical_form(path: Path) -> None:
    text = path.read_text()
    raw = json.loads(text)
    w = loads_workload(text, str(path))
    assert parse_workload(workload_to_json(w)) == w
    assert (workload_to_json(w) if "canvas" in raw else canvas_to_json(w.canvas)) == raw


# ------------------------------------------------------------------ node ids


def test_walk_gives_json_path_ids_in_pre_order() -> None:
    assert [p for p, _ in walk(parse_canvas(EVERYTHING))] == EVERYTHING_IDS


def test_task_ids_are_the_task_nodes_and_size_counts_them() -> None:
    c = parse_canvas(EVERYTHING)
    expected = ["$.chain[0]", "$.chain[0].link", "$.chain[0].link_error",
                "$.chain[1].group[0]", "$.chain[1].group[1]",
                "$.chain[2].chord.header[0].chain[0]", "$.chain[2].chord.body",
                "$.chain[2].link", "$.chain[2].link_error"]
    assert task_ids(c) == expected and size(c) == 9


def test_children_are_header_then_body_then_callbacks() -> None:
    c = parse_canvas({"chord": {"header": [{"task": "tag"}], "body": {"task": "tsum"}},
                      "link": {"task": "tag"}, "link_error": {"task": "log_error"}})
    assert [p for p, _ in children(c, "$")] == [
        "$.chord.header[0]", "$.chord.body", "$.link", "$.link_error"]
    assert list(children(parse_canvas({"task": "tag"}), "$")) == []


def test_walk_can_root_ids_elsewhere() -> None:
    ids = [p for p, _ in walk(parse_canvas({"group": [{"task": "tag"}]}), "$.chain[3]")]
    assert ids == ["$.chain[3]", "$.chain[3].group[0]"]


def test_ids_are_relative_to_the_canvas_not_the_wrapper() -> None:
    # A wrapper's canvas is the root "$" for node ids; parse errors name the file's own paths.
    w = parse_workload({"canvas": {"chain": [{"task": "tag"}]}, "args": [1]})
    assert task_ids(w.canvas) == ["$.chain[0]"]
    with pytest.raises(CanvasError) as info:
        parse_workload({"canvas": {"chain": [{"task": "nope"}]}})
    assert info.value.path == "$.canvas.chain[0].task"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_node_ids_are_unique_and_parse_back_to_their_node(path: Path) -> None:
    w = loads_workload(path.read_text(), str(path))
    raw = json.loads(path.read_text())
    root = raw.get("canvas", raw)
    ids = [p for p, _ in walk(w.canvas)]
    assert len(ids) == len(set(ids))
    for node_id, node in walk(w.canvas):
        assert parse_canvas(_resolve(root, node_id)) == node


def _resolve(root: Any, node_id: str) -> Any:
    """Follow a node id such as ``$.chain[1].chord.header[0]`` through the raw JSON."""
    obj = root
    for part in node_id.removeprefix("$").split(".")[1:]:
        key, _, index = part.partition("[")
        obj = obj[key]
        if index:
            obj = obj[int(index.rstrip("]"))]
    return obj


# ------------------------------------------------------------------ errors


def test_an_error_names_the_path_the_problem_and_the_fix() -> None:
    with pytest.raises(CanvasError) as info:
        parse_canvas({"group": [{"task": "tag"}, {"task": "nope"}]})
    err = info.value
    assert err.path == "$.group[1].task"
    head, _, rest = str(err).partition(": ")
    problem, _, fix = rest.partition("; ")
    assert head == "$.group[1].task"
    assert "'nope'" in problem and "tag" in fix  # the fix lists the known ops
    assert isinstance(err, ValueError)


def test_invalid_json_is_a_canvas_error_naming_the_source() -> None:
    with pytest.raises(CanvasError) as info:
        loads_workload("{\n  \"task\": \n}", "canvases/x.json")
    assert info.value.path == "canvases/x.json:3:1"


@pytest.mark.parametrize(("obj", "path"), [
    ({"chord": {"header": [{"chain": []}], "body": {"task": "tag"}}}, "$.chord.header[0].chain"),
    ({"chord": {"header": [], "body": {"group": [{"task": 1}]}}}, "$.chord.body.group[0].task"),
    ({"task": "tag", "link": {"chain": [{"task": "tag", "immutable": 0}]}},
     "$.link.chain[0].immutable"),
    ({"chord": {"header": [], "body": {"task": "tag"}}, "link_error": []}, "$.link_error"),
    ({"chain": [{"task": "tag"}, {"group": {}}]}, "$.chain[1].group"),
])
def test_errors_name_nested_paths(obj: Any, path: str) -> None:
    with pytest.raises(CanvasError) as info:
        parse_canvas(obj)
    assert info.value.path == path
