"""The reference model on hand-written canvases. Every expected value is derived by hand from
Celery's docs (the canvas guide in ../shared/seeds) or celery/canvas.py, named per test."""

from __future__ import annotations

from typing import Any

import pytest

from chord_chaos.models.canvas import CanvasError, parse_workload
from chord_chaos.models.semantics import Prediction, predict


def P(obj: Any) -> Prediction:
    return predict(parse_workload(obj))


def T(op: str, *args: Any, si: bool = False, **extra: Any) -> dict[str, Any]:
    return {"task": op, "args": list(args), "immutable": si, **extra}


def tag(label: str, si: bool = False, **extra: Any) -> dict[str, Any]:
    return T("tag", label, si=si, **extra)


E = {"task": "log_error"}


# -- the canvas guide's own examples ------------------------------------------------------

def test_guide_chain_of_adds() -> None:  # "# 2 + 2 + 4 + 8" -> 16
    assert P({"chain": [T("add", 2, 2), T("add", 4), T("add", 8)]}).value == 16


def test_guide_chord_xsum() -> None:  # chord((add.s(i, i) for i in range(10)), xsum.s()) -> 90
    p = P({"chord": {"header": [T("add", i, i) for i in range(10)], "body": T("xsum")}})
    assert p.value == 90
    assert p.executions["$.chord.body"] == 1


def test_guide_chain_into_immutable_group() -> None:  # add.s(4, 4) | group(add.si(i, i) ...)
    p = P({"chain": [T("add", 4, 4), {"group": [T("add", i, i, si=True) for i in range(10)]}]})
    assert p.value == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


def test_guide_immutable_chain() -> None:  # add.si(2, 2) | add.si(4, 4) | add.s(8, 8) -> 8 + 16
    p = P({"chain": [T("add", 2, 2, si=True), T("add", 4, 4, si=True), T("add", 8, 8)]})
    assert p.value == 24


# -- argument passing ---------------------------------------------------------------------

def test_partial_args_are_prepended() -> None:  # Signature._merge: args + self.args
    assert P({"chain": [tag("a"), tag("b")]}).value == [["a"], "b"]


def test_apply_args_reach_the_first_task_only() -> None:
    p = P({"canvas": {"chain": [tag("a"), tag("b")]}, "args": [0]})
    assert p.value == [[0, "a"], "b"]


def test_si_ignores_the_parent_result() -> None:
    assert P({"chain": [tag("a"), tag("b", si=True)]}).value == ["b"]


def test_chain_result_goes_to_every_member_of_a_following_group() -> None:
    p = P({"chain": [tag("a"), {"group": [tag("b"), tag("c")]}]})
    assert p.value == [[["a"], "b"], [["a"], "c"]]


def test_chain_result_goes_to_a_following_chords_header_not_its_body() -> None:
    p = P({"chain": [tag("a"), {"chord": {"header": [tag("b"), tag("c")], "body": tag("z")}}]})
    assert p.value == [[[["a"], "b"], [["a"], "c"]], "z"]


# -- chain rewriting (celery.canvas._merge_chain_step) -------------------------------------

def test_group_followed_by_a_task_is_a_chord() -> None:
    p = P({"chain": [{"group": [tag("a"), tag("b")]}, tag("z")]})
    assert p.value == [[["a"], ["b"]], "z"]
    assert ("$.chain[0].group[0]", "$.chain[1]") in p.happens_before


def test_chain_unrolls_a_one_task_group_but_a_chord_does_not() -> None:
    assert P({"chain": [{"group": [tag("t")]}, tag("u")]}).value == [["t"], "u"]
    assert P({"chord": {"header": [tag("t")], "body": tag("u")}}).value == [[["t"]], "u"]


def test_empty_groups_in_a_chain_are_skipped() -> None:
    assert P({"chain": [tag("a"), {"group": []}, tag("b")]}).value == [["a"], "b"]


def test_a_chain_that_is_only_a_group_is_that_group() -> None:
    p = P({"group": [tag("a"), {"chain": [{"group": [tag("b"), tag("c")]}]}]})
    assert p.value == [["a"], ["b"], ["c"]]


# -- groups and chords --------------------------------------------------------------------

def test_header_groups_are_unrolled_but_a_chain_ending_in_a_group_is_not() -> None:
    header = [{"group": [tag("a"), tag("b")]},
              {"chain": [tag("x"), {"group": [tag("c"), tag("d")]}]}]
    p = P({"chord": {"header": header, "body": tag("z")}})
    body_input = p.calls["$.chord.body"][0].args
    assert body_input == [[["a"], ["b"], [[["x"], "c"], [["x"], "d"]]], "z"]


def test_empty_header_runs_the_body_once_with_an_empty_list() -> None:
    p = P({"chord": {"header": [], "body": tag("z")}})
    assert p.value == [[], "z"] and p.executions == {"$.chord.body": 1}


def test_one_task_group_whose_result_is_a_group_result_is_collapsed() -> None:
    # group.apply_async: "Special case of group(A.s() | group(B.s(), C.s()))"
    inner = {"chord": {"header": [tag("h")], "body": {"group": [tag("b"), tag("c")]}}}
    assert P({"group": [inner]}).value == [[[["h"]], "b"], [[["h"]], "c"]]
    assert P({"group": [inner, tag("d")]}).value == [
        [[[["h"]], "b"], [[["h"]], "c"]], ["d"]]


def test_nested_chords_in_headers_bodies_chains_and_groups() -> None:
    inner = {"chord": {"header": [tag("a"), tag("b")], "body": tag("c")}}
    assert P({"chord": {"header": [inner, tag("d")], "body": tag("z")}}).value == [
        [[[["a"], ["b"]], "c"], ["d"]], "z"]
    assert P({"chord": {"header": [tag("h")], "body": inner}}).value == [
        [[[["h"]], "a"], [[["h"]], "b"]], "c"]
    assert P({"chain": [inner, tag("n")]}).value == [[[["a"], ["b"]], "c"], "n"]
    assert P({"group": [inner, tag("g")]}).value == [[[["a"], ["b"]], "c"], ["g"]]


def test_body_starts_after_every_header_task() -> None:
    p = P({"chord": {"header": [tag("a"), tag("b")], "body": tag("z")}})
    assert set(p.happens_before) == {("$.chord.header[0]", "$.chord.body"),
                                     ("$.chord.header[1]", "$.chord.body")}


# -- failures, callbacks, errbacks ---------------------------------------------------------

def test_failing_header_task_body_never_runs_and_errback_gets_chord_error() -> None:
    p = P({"chord": {"header": [T("fail"), tag("a")], "body": tag("z")}, "link_error": E})
    assert p.status == "FAILURE"
    # get() re-raises the header's own exception (follow_parents) or the body's ChordError
    # (the canvas guide's "Error handling" example): both are documented.
    assert set(p.errors) == {"ExpectedException", "ChordError"}
    assert p.executions == {"$.chord.header[0]": 1, "$.chord.header[1]": 1, "$.chord.body": 0,
                            "$.link_error": 1}
    assert p.calls["$.link_error"][0].result == {"ok": "ChordError"}
    assert p.chord_errors == ("$.chord.body",)


def test_failing_body_runs_the_chord_errback_once_with_its_own_exception() -> None:
    p = P({"chord": {"header": [tag("a")], "body": T("fail")}, "link_error": E})
    assert p.errors == ("ExpectedException",)
    assert p.calls["$.link_error"][0].result == {"ok": "ExpectedException"}


def test_failure_stops_the_chain_and_callbacks_never_run_after_it() -> None:
    p = P({"chain": [T("fail", link=tag("L"), link_error=E), tag("b")]})
    assert p.status == "FAILURE" and p.errors == ("ExpectedException",)
    assert p.executions == {"$.chain[0]": 1, "$.chain[0].link": 0,
                            "$.chain[0].link_error": 1, "$.chain[1]": 0}


def test_link_receives_the_value_and_runs_after_its_task() -> None:
    p = P(tag("a", link=tag("L")))
    assert p.calls["$.link"][0].args == [["a"], "L"]
    assert ("$", "$.link") in p.happens_before


def test_errback_runs_once_per_failure_it_is_attached_to() -> None:
    p = P({"group": [T("fail", link_error=E), T("fail", link_error=E), tag("ok", link_error=E)]})
    assert [p.executions[f"$.group[{i}].link_error"] for i in range(3)] == [1, 1, 0]


def test_chord_errback_reaches_chords_nested_in_the_header() -> None:
    # _chord.link_error: "Edge case for nested chords in the header"
    inner = {"chord": {"header": [tag("a")], "body": T("fail")}}
    p = P({"chord": {"header": [inner], "body": tag("z")}, "link_error": E})
    assert p.executions["$.link_error"] == 2  # inner body's failure, then the outer ChordError


def test_retry_runs_times_plus_one_attempts() -> None:
    p = P(T("retry", 2, "v"))
    assert p.value == "v" and p.executions == {"$": 3}


def test_type_errors_in_ops_are_predicted() -> None:
    p = P({"chain": [T("add", 1, 2), T("add", "x")]})
    assert p.status == "FAILURE" and p.errors == ("TypeError",)


# -- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize(("canvas", "path"), [
    ({"chain": [T("mul", 2)]}, "$.chain[0]"),  # mul needs two args as the first step
    ({"chain": [tag("a"), T("mul", 2, 3)]}, "$.chain[1]"),  # 3 args after a parent result
    (T("log_error"), "$"),  # an errback op outside link_error
    ({"chord": {"header": [], "body": {"chain": [tag("a")]}}, "link_error": E}, "$"),
    (T("tag", link_error={"chain": [tag("e")]}), "$.link_error"),
])
def test_bad_canvases_name_the_path(canvas: Any, path: str) -> None:
    with pytest.raises(CanvasError) as info:
        P(canvas)
    assert info.value.path == path


def test_arity_depends_on_position() -> None:
    assert P({"chain": [T("identity", 1), T("mul", 2)]}).value == 2
