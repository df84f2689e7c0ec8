"""Shape coverage on hand-written canvases: each feature is reported exactly when present."""

from __future__ import annotations

from typing import Any

import pytest

from chord_chaos.check.coverage import (
    SHAPE_FEATURES,
    SWARM_NEEDS,
    shape_features,
    shown_by,
)
from chord_chaos.models.canvas import Chord, Group, Task, Workload, parse_canvas, parse_workload
from chord_chaos.models.swarm import FEATURES
from chord_chaos.models.timeouts import SLOW_SECONDS


def t(label: str = "x", **extra: Any) -> dict[str, Any]:
    return {"task": "tag", "args": [label], **extra}


def op(name: str, *args: Any, **extra: Any) -> dict[str, Any]:
    return {"task": name, "args": list(args), **extra}


def chain(*items: Any) -> dict[str, Any]:
    return {"chain": list(items)}


def group(*items: Any) -> dict[str, Any]:
    return {"group": list(items)}


def chord(header: list[Any], body: Any, **extra: Any) -> dict[str, Any]:
    return {"chord": {"header": header, "body": body}, **extra}


def features(canvas: Any) -> frozenset[str]:
    return shape_features(parse_canvas(canvas))


def test_a_single_task_has_no_feature() -> None:
    assert features(t()) == frozenset()


# (canvas, the features it has: exactly these)
EXACT: list[tuple[str, Any, set[str]]] = [
    ("chain", chain(t("a"), t("b")), {"chain"}),
    ("group", group(t("a"), t("b")), {"group"}),
    ("chord", chord([t("a")], t("b")), {"chord"}),
    ("empty header", chord([], t("b")), {"chord", "empty-header"}),
    ("empty group", group(), {"group", "empty-group"}),
    ("nested group", group(group(t("a")), t("b")), {"group", "nested-group"}),
    ("chord in header", chord([chord([t("a")], t("b"))], t("c")), {"chord", "chord-in-header"}),
    ("chord in header, in a chain", chord([chain(t("a"), chord([t("b")], t("c")))], t("d")),
     {"chord", "chain", "chain-in-header", "chord-in-chain", "chord-in-header"}),
    ("chord body", chord([t("a")], chord([t("b")], t("c"))), {"chord", "chord-body", "chord-in-body"}),
    ("chord in body, in a chain body", chord([t("a")], chain(t("b"), chord([t("c")], t("d")))),
     {"chord", "chain", "chain-body", "chord-in-chain", "chord-in-body"}),
    ("header of a body chord is a header",
     chord([t("a")], chord([chord([t("b")], t("c"))], t("d"))),
     {"chord", "chord-body", "chord-in-body", "chord-in-header"}),
    ("group body", chord([t("a")], group(t("b"), t("c"))), {"chord", "group", "group-body"}),
    ("chain body", chord([t("a")], chain(t("b"), t("c"))), {"chord", "chain", "chain-body"}),
    ("chain of a group only, as a body, is a chain body",
     chord([t("a")], chain(group(t("b"), t("c")))),
     {"chord", "chain", "group", "chain-body", "group-led-chain", "group-ended-chain"}),
    ("group body in a header: chord([chord([a, b], group(c, d)), e], f)",
     chord([chord([t("a"), t("b")], group(t("c"), t("d"))), t("e")], t("f")),
     {"chord", "group", "chord-in-header", "group-body", "group-body-in-header"}),
    ("group body in a header, deeper",
     chord([chain(t("a"), chord([t("b")], group(t("c"), t("d"))))], t("e")),
     {"chord", "chain", "group", "chain-in-header", "chord-in-chain", "chord-in-header",
      "group-body", "group-body-in-header"}),
    ("group in header", chord([group(t("a"), t("b"))], t("c")), {"chord", "group", "group-in-header"}),
    ("chord in group", group(chord([t("a")], t("b")), t("c")), {"chord", "group", "chord-in-group"}),
    ("group-led chain", chain(group(t("a"), t("b")), t("c")), {"chain", "group", "group-led-chain"}),
    ("group-ended chain", chain(t("a"), group(t("b"), t("c"))), {"chain", "group", "group-ended-chain"}),
    ("immutable", op("tag", "a", immutable=True), {"immutable"}),
    ("immutable fail", op("fail", immutable=True), {"immutable", "fail-elsewhere"}),
    ("fail in header", chord([op("fail")], t("b")), {"chord", "fail-in-header"}),
    ("fail in body", chord([t("a")], op("fail")), {"chord", "fail-in-body"}),
    ("fail elsewhere", chain(t("a"), op("fail")), {"chain", "fail-elsewhere"}),
    ("fail in a header chord's body is in a body",
     chord([chord([t("a")], op("fail"))], t("c")), {"chord", "chord-in-header", "fail-in-body"}),
    ("fail in a body chord's header is in a header",
     chord([t("a")], chord([op("fail")], t("c"))),
     {"chord", "chord-body", "chord-in-body", "fail-in-header"}),
    ("retry in header", chord([op("retry", 1, None, immutable=True)], t("b")), {"chord", "retry-in-header"}),
    ("retry in body", chord([t("a")], op("retry", 1, None, immutable=True)), {"chord", "retry-in-body"}),
    ("retry elsewhere", op("retry", 2, None, immutable=True), {"retry-elsewhere"}),
    ("slow in header", chord([op("sleep", 1.5, None, immutable=True)], t("b")), {"chord", "slow-in-header"}),
    ("slow in body", chord([t("a")], op("sleep", 2.0, None, immutable=True)), {"chord", "slow-in-body"}),
    ("slow elsewhere", group(op("sleep", SLOW_SECONDS, None, immutable=True)), {"group", "slow-elsewhere"}),
    ("slow seconds in kwargs", {"task": "sleep", "kwargs": {"seconds": 1}, "immutable": True},
     {"slow-elsewhere"}),
    ("link on a task", t("a", link=t("b")), {"link"}),
    ("link on a chord", chord([t("a")], t("b"), link=t("c")), {"chord", "link"}),
    ("errback on a task", t("a", link_error={"task": "log_error"}), {"errback-on-task"}),
    ("errback on a chord", chord([t("a")], t("b"), link_error={"task": "log_error"}),
     {"chord", "errback-on-chord"}),
    ("errback on a chord's body task", chord([t("a")], t("b", link_error={"task": "log_error"})),
     {"chord", "errback-on-task"}),
]


@pytest.mark.parametrize(("canvas", "expected"), [(c, e) for _, c, e in EXACT],
                         ids=[name for name, _, _ in EXACT])
def test_each_feature_is_reported_exactly_when_present(canvas: Any, expected: set[str]) -> None:
    assert features(canvas) == expected


def test_every_feature_is_shown_by_some_example() -> None:
    shown = set().union(*(e for _, _, e in EXACT)) | {"partial-args"}
    assert shown == set(SHAPE_FEATURES)


@pytest.mark.parametrize("canvas", [
    op("sleep", 0.03, None, immutable=True),
    op("sleep", SLOW_SECONDS - 0.001, None, immutable=True),
    {"task": "sleep", "kwargs": {"seconds": 0.5}, "immutable": True},
    op("sleep"),  # its seconds come from its parent: not known to be slow
    op("sleep", True, None, immutable=True),  # JSON true is no number of seconds
], ids=["fast", "just-below", "kwargs-fast", "from-parent", "bool"])
def test_a_sleep_is_slow_only_from_slow_seconds_on(canvas: Any) -> None:
    assert not {f for f in features(canvas) if f.startswith("slow-")}


def test_sleep_and_retry_are_not_counted_as_immutable() -> None:
    """Their drawn form is always immutable (a parent's result would be one argument too many)."""
    assert "immutable" not in features(chain(op("sleep", 0, None, immutable=True),
                                             op("retry", 1, None, immutable=True)))


def test_a_fail_in_the_body_is_not_in_the_header_and_vice_versa() -> None:
    body = features(chord([t("a")], op("fail")))
    header = features(chord([op("fail")], t("a")))
    assert "fail-in-header" not in body and "fail-elsewhere" not in body
    assert "fail-in-body" not in header and "fail-elsewhere" not in header


def test_a_chord_at_the_root_or_in_a_chain_is_in_no_header_or_body() -> None:
    assert not features(chain(t("a"), chord([t("b")], t("c")))) & {"chord-in-header", "chord-in-body"}


def test_callbacks_are_placed_by_their_task() -> None:
    """A callback's node id extends its task's (``$.chord.header[0].link``), so node_role puts
    it where its task is."""
    f = features(chord([t("a", link=op("sleep", 1.0, None, immutable=True))], t("b")))
    assert "slow-in-header" in f and "link" in f


def test_a_one_member_group_body_is_still_a_group_body() -> None:
    assert "group-body" in features(chord([t("a")], group(t("b"))))


def test_partial_args_come_from_the_workload() -> None:
    assert "partial-args" in shape_features(parse_workload({"canvas": t("a"), "args": ["a0"]}))
    assert "partial-args" in shape_features(parse_workload({"canvas": t("a"), "kwargs": {"k": 1}}))
    assert "partial-args" not in shape_features(parse_workload({"canvas": t("a")}))
    assert "partial-args" not in shape_features(Task("tag", ("a",)))


def test_a_canvas_and_its_workload_agree() -> None:
    canvas = Chord((Task("fail"),), Group((Task("tag", ("a",)), Task("tag", ("b",)))))
    assert shape_features(canvas) == shape_features(Workload(canvas)) == \
        {"chord", "group", "group-body", "fail-in-header"}


def test_every_feature_is_described_and_has_its_swarm_needs() -> None:
    assert set(SWARM_NEEDS) == set(SHAPE_FEATURES)
    assert all(SHAPE_FEATURES.values())
    for alternatives in SWARM_NEEDS.values():
        assert alternatives and all(a <= set(FEATURES) for a in alternatives)


def test_every_swarm_feature_is_shown_by_some_shape_feature() -> None:
    for feature in FEATURES:
        assert shown_by(feature), feature
    assert set(shown_by("fail")) == {"fail-in-header", "fail-in-body", "fail-elsewhere"}
    assert set(shown_by("group-body")) == {"group-body", "group-body-in-header"}
    assert set(shown_by("errback")) == {"errback-on-task", "errback-on-chord"}
