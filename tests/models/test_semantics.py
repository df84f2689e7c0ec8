"""Celery's subtle canvas semantics, one rule per test, against the reference model.

Every expected value is worked out by hand from the rule cited beside it: a section of the
canvas guide (``../shared/seeds/canvas-guide.rst``, "guide"), of
``../shared/seeds/chords-barrier-synchronization.md`` ("barrier"), or a function of Celery
5.7.0 (``celery/canvas.py``, ``celery/backends/base.py``). Where Celery's behaviour is a bug
or depends on the backend, the test says which choice the model makes and which known issue
(KNOWN_ISSUES.md) records what Celery does.
"""

from __future__ import annotations

from typing import Any

import pytest

from chord_chaos.models.canvas import CanvasError, loads_workload, parse_workload, workload_to_json
from chord_chaos.models.semantics import Prediction, predict

Obj = dict[str, Any]


def P(obj: Obj) -> Prediction:
    return predict(parse_workload(obj))


def T(op: str, *args: Any, si: bool = False, kwargs: Obj | None = None, **extra: Any) -> Obj:
    out: Obj = {"task": op, "args": list(args), "immutable": si, **extra}
    if kwargs is not None:
        out["kwargs"] = kwargs
    return out


def tag(label: str, si: bool = False, **extra: Any) -> Obj:
    return T("tag", label, si=si, **extra)


def chain(*items: Obj) -> Obj:
    return {"chain": list(items)}


def group(*items: Obj) -> Obj:
    return {"group": list(items)}


def chord(header: list[Obj], body: Obj, **extra: Any) -> Obj:
    return {"chord": {"header": header, "body": body}, **extra}


def args_of(p: Prediction, node: str) -> list[Any]:
    """The args of the node's one execution."""
    (call,) = p.calls[node]
    assert call.args is not None
    return call.args


def result_of(p: Prediction, node: str) -> Any:
    (call,) = p.calls[node]
    assert call.result is not None
    return call.result


E: Obj = {"task": "log_error"}
EVENS = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


# ------------------------------------------------------------------ partial args and kwargs


def test_partial_args_are_prepended() -> None:
    # guide "Partials": "Any arguments added will be prepended to the args in the signature":
    # partial = add.s(2); partial.delay(4)  # 4 + 2.  Signature._merge: args + self.args
    assert P({"canvas": T("add", 2), "args": [4]}).value == 6
    p = P({"canvas": T("add", "b"), "args": ["a"]})  # strings show which side they go
    assert p.value == "ab" and args_of(p, "$") == ["a", "b"]


def test_partial_kwargs_are_merged_and_the_new_ones_win() -> None:
    # guide "Partials": kwargs "merged with the kwargs in the signature, with the new keyword
    # arguments taking precedence".  Signature._merge: dict(self.kwargs, **kwargs)
    p = P({"canvas": T("add", 1, 2, kwargs={"z": 3}), "kwargs": {"z": 10}})
    assert p.value == 13
    (call,) = p.calls["$"]
    assert call.kwargs == {"z": 10}


def test_guide_clone_example() -> None:
    # guide "Partials": s = add.s(2); s.clone(args=(4,), kwargs={'debug': True})
    # -> add(4, 2, debug=True)  (z stands in for debug)
    p = P({"canvas": T("add", 2), "args": [4], "kwargs": {"z": 1}})
    (call,) = p.calls["$"]
    assert (call.args, call.kwargs, p.value) == ([4, 2], {"z": 1}, 7)


def test_si_ignores_partial_args_and_kwargs() -> None:
    # guide "Immutability": "it's not possible to call the signature with partial args/kwargs".
    # Signature._merge: "if self.immutable and not force: return (self.args, self.kwargs, ...)"
    p = P({"canvas": T("add", 2, 2, si=True), "args": [100], "kwargs": {"z": 1}})
    (call,) = p.calls["$"]
    assert (call.args, call.kwargs, p.value) == ([2, 2], {}, 4)


# ------------------------------------------------------------------ chains


def test_guide_simple_chain() -> None:
    # guide "Simple chain": chain(add.s(2, 2), add.s(4), add.s(8)) -> 16  ("2 + 2 + 4 + 8")
    p = P(chain(T("add", 2, 2), T("add", 4), T("add", 8)))
    assert p.value == 16
    assert (args_of(p, "$.chain[1]"), args_of(p, "$.chain[2]")) == ([4, 4], [8, 8])


def test_guide_chain_of_muls_and_its_parents() -> None:
    # guide "Chains": chain(add.s(4, 4), mul.s(8), mul.s(10)) -> 640; res.parent.get() -> 64;
    # res.parent.parent.get() -> 8
    p = P(chain(T("add", 4, 4), T("mul", 8), T("mul", 10)))
    assert p.value == 640
    assert (result_of(p, "$.chain[0]"), result_of(p, "$.chain[1]")) == ({"ok": 8}, {"ok": 64})


def test_guide_partial_chain() -> None:
    # guide "Blow your mind by combining": c1 = (add.s(4) | mul.s(8)); c1(16) -> 160
    p = P({"canvas": chain(T("add", 4), T("mul", 8)), "args": [16]})
    assert p.value == 160 and args_of(p, "$.chain[0]") == [16, 4]


def test_guide_chains_nested_in_chains_are_flattened() -> None:
    # guide: c2 = (add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))) -> 352
    # ("((4 + 16) * 2 + 4) * 8"); _merge_chain_step splices an inner chain's tasks in
    p = P(chain(T("add", 4, 16), T("mul", 2), chain(T("add", 4), T("mul", 8))))
    assert p.value == 352 and args_of(p, "$.chain[2].chain[0]") == [40, 4]
    p = P(chain(tag("a"), chain(tag("b"), chain(tag("c")))))
    assert p.value == [[["a"], "b"], "c"]


def test_guide_immutable_chain() -> None:
    # guide "Immutable signatures": (add.si(2, 2) | add.si(4, 4) | add.s(8, 8)) with
    # res.parent.get() -> 8 and res.parent.parent.get() -> 4. The guide prints 16 for the
    # last step, but add.s(8, 8) is not immutable, so it gets the parent's 8 prepended:
    # add(8, 8, 8) = 24 with this add(x, y, z=None).  With .si everywhere it is 16.
    p = P(chain(T("add", 2, 2, si=True), T("add", 4, 4, si=True), T("add", 8, 8)))
    assert (result_of(p, "$.chain[0]"), result_of(p, "$.chain[1]")) == ({"ok": 4}, {"ok": 8})
    assert args_of(p, "$.chain[2]") == [8, 8, 8] and p.value == 24
    assert P(chain(T("add", 2, 2, si=True), T("add", 4, 4, si=True), T("add", 8, 8, si=True))).value == 16


def test_chain_result_is_prepended_to_the_next_steps_args() -> None:
    # guide "Callbacks": sig = add.s(10); sig.delay(result) -> add.apply_async(args=(result, 10))
    assert P(chain(T("add", "a", "b"), T("add", "c"))).value == "abc"


def test_si_in_a_chain_ignores_the_parents_result() -> None:
    # guide "Immutable signatures": "if you don't want the result of the previous task"
    p = P(chain(tag("a"), tag("b", si=True)))
    assert p.value == ["b"] and args_of(p, "$.chain[1]") == ["b"]


def test_apply_args_and_kwargs_reach_only_the_first_task_of_a_chain() -> None:
    # _chain.prepare_steps: "first task gets partial args from chain":
    # task.clone(args, kwargs) only when is_first_task
    assert P({"canvas": chain(tag("a"), tag("b")), "args": [0]}).value == [[0, "a"], "b"]
    p = P({"canvas": chain(T("identity"), T("identity")), "kwargs": {"x": 5}})
    assert p.value == 5
    (second,) = p.calls["$.chain[1]"]
    assert (second.args, second.kwargs) == ([5], {})


def test_chain_result_is_forwarded_to_every_member_of_a_following_group() -> None:
    # guide: "in a chain the return value of the previous task is forwarded to all tasks in
    # the group" (new_user_workflow = create_user.s() | group(import_contacts.s(),
    # send_welcome_email.s()), called with username='artv')
    p = P({"canvas": chain(T("identity"), group(T("add", ":contacts"), T("add", ":welcome"))),
           "kwargs": {"x": "artv"}})
    assert p.value == ["artv:contacts", "artv:welcome"]


def test_guide_chain_into_an_immutable_group() -> None:
    # guide: (add.s(4, 4) | group(add.si(i, i) for i in range(10)))() -> the GroupResult of
    # [0, 2, ..., 18]; res.parent.get() -> 8
    p = P(chain(T("add", 4, 4), group(*[T("add", i, i, si=True) for i in range(10)])))
    assert p.value == EVENS and result_of(p, "$.chain[0]") == {"ok": 8}


def test_chain_result_goes_to_a_following_chords_header_not_its_body() -> None:
    # A chord step is applied with the parent's result as partial args; _chord.run passes
    # them to header.apply_async(partial_args, ...), the body gets only the header's list.
    p = P(chain(tag("a"), chord([tag("b"), tag("c")], tag("z"))))
    assert args_of(p, "$.chain[1].chord.body") == [[[["a"], "b"], [["a"], "c"]], "z"]


def test_a_step_after_a_chord_step_gets_the_bodys_value() -> None:
    # _merge_chain_step: "steps[-1].body = steps[-1].body | other" for a chord then a task
    p = P(chain(chord([tag("a")], tag("z")), tag("n")))
    assert p.value == [[[["a"]], "z"], "n"]
    assert ("$.chain[0].chord.body", "$.chain[1]") in p.happens_before


# ------------------------------------------------------------------ chain rewriting


def test_guide_group_piped_into_a_task_is_a_chord() -> None:
    # guide: "Chaining a group together with another task will automatically upgrade it to be
    # a chord": (group(add.s(i, i) for i in range(10)) | xsum.s()) -> 90.
    # _merge_chain_step: steps[-1] = chord(steps[-1], other)
    p = P(chain(group(*[T("add", i, i) for i in range(10)]), T("xsum")))
    assert p.value == 90 and args_of(p, "$.chain[1]") == [EVENS]
    assert {(f"$.chain[0].group[{i}]", "$.chain[1]") for i in range(10)} <= set(p.happens_before)
    # barrier "Using the Pipe Operator": group(add.s(1, 1), add.s(2, 2)) | tsum.s()
    assert P(chain(group(T("add", 1, 1), T("add", 2, 2)), T("tsum"))).value == 6


def test_group_then_group_in_a_chain_is_a_chord_with_a_group_body() -> None:
    # _chain.prepare_steps: "automatically upgrade group(...) | s to chord(group, s)", s a group
    p = P(chain(group(tag("a"), tag("b")), group(tag("c"), tag("d"))))
    assert p.value == [[[["a"], ["b"]], "c"], [[["a"], ["b"]], "d"]]


def test_group_then_chord_in_a_chain_feeds_the_chords_header() -> None:
    # _merge_chain_step: a chord is a Signature, so group | chord is chord(group, chord)
    p = P(chain(group(tag("a"), tag("b")), chord([tag("h")], tag("z"))))
    assert p.value == [[[[["a"], ["b"]], "h"]], "z"]


def test_chain_unrolls_a_one_task_group_but_a_chord_keeps_it() -> None:
    # _merge_chain_step: maybe_unroll_group ("a group of a single task as if it was a single
    # task", issue #1656); group.__or__: group | task -> chord(self, body=other)
    assert P(chain(group(tag("t")), tag("u"))).value == [["t"], "u"]
    assert P(chord([tag("t")], tag("u"))).value == [[["t"]], "u"]
    assert P(chain(tag("a"), group(tag("t")))).value == [["a"], "t"]


def test_a_two_deep_one_member_group_ending_a_chain_runs_as_its_task() -> None:
    # Unrolled once when the chain is built (_merge_chain_step) and once more when it runs
    # (_chain.prepare_steps: "task = maybe_unroll_group(task)").
    assert P(chain(tag("a"), group(group(tag("t"))))).value == [["a"], "t"]


def test_a_two_deep_one_member_group_followed_by_a_step_is_a_chord() -> None:
    assert P(chain(group(group(tag("t"))), tag("u"))).value == [[["t"]], "u"]
    assert P(chain(tag("a"), group(group(tag("t"))), tag("u"))).value == [[[["a"], "t"]], "u"]


def test_a_leading_two_deep_one_member_group_then_a_group_is_a_chord_with_a_group_body() -> None:
    # _fold_chain hands a group-led chain to group.__or__: chord(group(t), body=group(b, c)),
    # the leading group unrolled once when the chain is built and never again (seen on real
    # Celery, both backends, by the property test's random exploration)
    assert P(chain(group(group(tag("t"))), group(tag("b"), tag("c")))).value == [
        [[["t"]], "b"], [[["t"]], "c"]]
    failing = P(chain(group(group(T("fail", "h"))), group(tag("b", link_error=T("log_error")),
                                                          tag("c", link_error=T("log_error")))))
    assert {n: k for n, k in failing.executions.items() if n.startswith("$.chain[1]")} == {
        "$.chain[1].group[0]": 0, "$.chain[1].group[1]": 0,
        "$.chain[1].group[0].link_error": 1, "$.chain[1].group[1].link_error": 1}


def test_a_nested_group_led_chain_keeps_its_one_member_header() -> None:
    # chain.__new__ folds the nested chain first: _fold_chain hands it to group.__or__, so
    # chain(group(group(t)), group(b, c)) is already chord(group(t), group(b, c)) when the
    # outer chain merges it (_merge_chain_step appends a chord), and prepare_steps never
    # unrolls a chord's header: b gets [t's value], not t's value (found by fuzz, both backends)
    nested = chain(group(group(tag("t"))), group(tag("b"), tag("c")))
    p = P(chain(nested, tag("x")))
    assert args_of(p, "$.chain[0].chain[1].group[0]") == [[["t"]], "b"]
    assert p.value == [[[[["t"]], "b"], [[["t"]], "c"]], "x"]
    p = P(chain(tag("p"), chain(group(group(tag("a"))), chain(group(tag("b"), T("fail", "c")),
                                                               tag("d"))), tag("x")))
    assert args_of(p, "$.chain[1].chain[1].chain[0].group[1]") == [[[["p"], "a"]], "c"]
    assert p.executions["$.chain[1].chain[1].chain[1]"] == 0


def test_a_chord_body_that_is_a_chain_of_one_group_gets_the_groups_errbacks() -> None:
    # chain([group]) is that group, so _handle_group_chord_error calls each member's errbacks
    # with the header's exception, as for a group body
    members = group(tag("b", link_error=T("log_error")), tag("c", link_error=T("log_error")))
    for body, prefix in ((members, "$.chord.body"), (chain(members), "$.chord.body.chain[0]")):
        p = P(chord([T("fail", "h")], body))
        assert p.executions[f"{prefix}.group[0].link_error"] == 1
        assert p.executions[f"{prefix}.group[1].link_error"] == 1


def test_a_chain_of_only_a_two_deep_one_member_group_is_a_group() -> None:
    assert P(chain(group(group(tag("t"))))).value == [["t"]]


def test_a_three_deep_one_member_group_ending_a_chain_stays_a_group() -> None:
    assert P(chain(tag("a"), group(group(group(tag("t")))))).value == [[["a"], "t"]]


def test_empty_groups_are_skipped_in_chains() -> None:
    # _merge_chain_step: "if _is_empty_group(other): return steps"; _chain.prepare_steps strips
    # leading empty groups so the partial args reach the first real task (issue #9772)
    assert P(chain(tag("a"), group(), tag("b"))).value == [["a"], "b"]
    assert P(chain(tag("a"), group())).value == ["a"]
    assert P({"canvas": chain(group(), tag("a")), "args": [0]}).value == [0, "a"]


def test_a_chain_that_is_only_a_group_is_that_group() -> None:
    # _fold_chain / _merge_chain_step: "if not steps: return other" -- chain(group) is the
    # group, so in a group it is unrolled like any nested group (group._prepared)
    p = P(group(chain(group(tag("a"), tag("b"))), tag("c")))
    assert p.value == [["a"], ["b"], ["c"]]


# ------------------------------------------------------------------ groups


def test_guide_groups_return_member_values_in_call_order() -> None:
    # guide "Groups": group(add.s(2, 2), add.s(4, 4))() -> [4, 8]; "Group Results": join()
    # returns the results "ordered by the order of which they were called"
    assert P(group(T("add", 2, 2), T("add", 4, 4))).value == [4, 8]
    job = group(*[T("add", n, n) for n in (2, 4, 8, 16, 32)])
    assert P(job).value == [4, 8, 16, 32, 64]
    assert P(group(*[T("add", i, i) for i in range(10)])).value == EVENS


def test_group_apply_args_reach_every_member_except_immutable_ones() -> None:
    # group.apply_async -> _apply_tasks: sig.apply_async(args=args, kwargs=kwargs) per member
    p = P({"canvas": group(tag("a"), tag("b", si=True)), "args": [0]})
    assert p.value == [[0, "a"], ["b"]]


def test_nested_groups_in_a_group_are_flattened() -> None:
    # group._prepared: "if isinstance(task, group): ... yield from unroll"
    assert P(group(group(tag("a"), tag("b")), tag("c"))).value == [["a"], ["b"], ["c"]]
    assert P(group(group(), tag("a"))).value == [["a"]]


def test_a_one_member_group_is_a_list_of_one() -> None:
    # group.apply_async returns a GroupResult; only a GroupResult member is collapsed
    assert P(group(tag("t"))).value == [["t"]]
    assert P(group(group(tag("t")))).value == [["t"]]


def test_a_group_of_one_member_whose_result_is_a_group_result_collapses() -> None:
    # group.apply_async: "Special case of group(A.s() | group(B.s(), C.s()))":
    # "if len(result) == 1 and isinstance(result[0], GroupResult): result = result[0]"
    inner = chain(tag("a"), group(tag("b"), tag("c")))
    assert P(group(inner)).value == [[["a"], "b"], [["a"], "c"]]
    assert P(group(inner, tag("d"))).value == [[[["a"], "b"], [["a"], "c"]], ["d"]]
    # a chord with a group body has a GroupResult too (_chord.freeze returns the body's)
    with_group_body = chord([tag("h")], group(tag("b"), tag("c")))
    assert P(group(with_group_body)).value == [[[["h"]], "b"], [[["h"]], "c"]]


# ------------------------------------------------------------------ chords


def test_guide_chord_with_xsum() -> None:
    # guide "Simple chord": chord((add.s(i, i) for i in range(10)), xsum.s())() -> 90
    p = P(chord([T("add", i, i) for i in range(10)], T("xsum")))
    assert p.value == 90 and args_of(p, "$.chord.body") == [EVENS]
    assert p.executions["$.chord.body"] == 1


def test_barrier_basic_chord() -> None:
    # barrier "Basic Chord Implementation": "The body 'tsum' receives [4, 8] and returns 12"
    p = P(chord([T("add", 2, 2), T("add", 4, 4)], T("tsum")))
    assert p.value == 12 and args_of(p, "$.chord.body") == [[4, 8]]


def test_chord_apply_args_reach_the_header_but_not_immutable_header_tasks() -> None:
    # barrier "Troubleshooting": "If you mark header tasks as immutable using .si(), they will
    # not receive partial arguments if the chord itself is called with arguments";
    # _chord.run: header.apply_async(partial_args, kwargs, ...)
    p = P({"canvas": chord([T("add", 1, 1, si=True), T("add", 5)], T("tsum")), "args": [10]})
    assert args_of(p, "$.chord.header[1]") == [10, 5]
    assert args_of(p, "$.chord.body") == [[2, 15]] and p.value == 17


def test_chord_apply_kwargs_reach_every_header_task() -> None:
    # _chord.apply_async: kwargs = dict(self.kwargs['kwargs'], **kwargs), then
    # header.apply_async(partial_args, kwargs)
    p = P({"canvas": chord([T("identity"), T("identity")], T("tsum")), "kwargs": {"x": 2}})
    assert p.value == 4


def test_body_runs_once_after_every_header_task() -> None:
    # guide "Chords": "the callback can only be executed after all of the tasks in the header
    # have returned"
    p = P(chord([tag("a"), tag("b")], tag("z")))
    assert set(p.happens_before) == {("$.chord.header[0]", "$.chord.body"),
                                     ("$.chord.header[1]", "$.chord.body")}
    assert p.executions == {"$.chord.header[0]": 1, "$.chord.header[1]": 1, "$.chord.body": 1}


def test_empty_header_runs_the_body_once_with_an_empty_list() -> None:
    # barrier "Empty Headers"; _chord.run: "If the header is empty ... body.delay([])"
    p = P(chord([], tag("z")))
    assert p.value == [[], "z"] and p.executions == {"$.chord.body": 1}
    assert P(chord([], T("tsum"))).value == 0
    # a header of only an empty group is empty once group._freeze_unroll has flattened it
    assert P(chord([group()], tag("z"))).value == [[], "z"]
    assert P(chord([group(), tag("a")], tag("z"))).value == [[["a"]], "z"]


def test_nested_groups_in_a_header_are_unrolled_into_the_body_input() -> None:
    # _chord.run -> header._freeze_group_tasks -> group._freeze_unroll: "if this is a group,
    # flatten it by adding all of the group's tasks to the stack"
    p = P(chord([group(tag("a"), tag("b")), tag("c")], tag("z")))
    (header_values, label) = args_of(p, "$.chord.body")
    assert label == "z"
    assert sorted(header_values) == [["a"], ["b"], ["c"]]


def test_nested_group_members_keep_their_documented_order() -> None:
    # group._freeze_unroll's 'stack.extendleft(task.tasks)' reverses a nested group, so real
    # Celery gives [b, a, c]; the model keeps the documented header order, and the reversal is
    # registered as the known issue nested-group-order.
    p = P(chord([group(tag("a"), tag("b")), tag("c")], tag("z")))
    assert args_of(p, "$.chord.body") == [[["a"], ["b"], ["c"]], "z"]


def test_a_chain_ending_in_a_group_in_a_header_gives_a_nested_list() -> None:
    # group._freeze_unroll flattens only groups: a chain is frozen as one member, and its
    # result (the GroupResult of its last step) joins as a list
    p = P(chord([chain(tag("x"), group(tag("c"), tag("d"))), tag("e")], tag("z")))
    assert args_of(p, "$.chord.body") == [[[[["x"], "c"], [["x"], "d"]], ["e"]], "z"]


def test_a_chord_with_a_group_body_in_a_header_gives_a_nested_list() -> None:
    # _chord.freeze returns the body's result: a GroupResult for a group body
    inner = chord([tag("h")], group(tag("b"), tag("c")))
    p = P(chord([inner, tag("d")], tag("z")))
    assert args_of(p, "$.chord.body") == [[[[[["h"]], "b"], [[["h"]], "c"]], ["d"]], "z"]


def test_a_group_body_runs_every_member_with_the_header_values() -> None:
    # _chord.run: the body (here a group) is applied with the header's list as partial args
    p = P(chord([tag("a"), tag("b")], group(tag("c"), tag("d"))))
    assert p.value == [[[["a"], ["b"]], "c"], [[["a"], ["b"]], "d"]]


def test_nested_chords_in_headers_bodies_chains_and_groups() -> None:
    # barrier "Recursive Chords: Chords can be nested" (_chord._descend counts the tasks)
    inner = chord([tag("a"), tag("b")], tag("c"))
    c = [[["a"], ["b"]], "c"]
    assert P(chord([inner, tag("d")], tag("z"))).value == [[c, ["d"]], "z"]
    assert P(chord([tag("h")], inner)).value == [[[[["h"]], "a"], [[["h"]], "b"]], "c"]
    assert P(chain(inner, tag("n"))).value == [c, "n"]
    assert P(group(inner, tag("g"))).value == [c, ["g"]]
    deep = chord([chord([chord([tag("t1"), tag("t2")], tag("cb3"))], tag("cb2"))], tag("cb1"))
    assert P(deep).value == [[[[[[["t1"], ["t2"]], "cb3"]], "cb2"]], "cb1"]


# ------------------------------------------------------------------ failures


def test_failing_header_task_body_never_runs() -> None:
    # guide "Error handling": chord([add.s(4, 4), raising_task.s(), add.s(8, 8)]): "the
    # callback will not be executed instead the callback changes to failure state, and the
    # error is set to the ChordError exception"; "the third task (add.s(8, 8)) is still
    # executed". get() follows parents, so the header's own exception is documented too.
    p = P(chord([T("add", 4, 4), T("fail"), T("add", 8, 8)], T("xsum")))
    assert p.status == "FAILURE" and p.value is None
    assert "ChordError" in p.errors and "ExpectedException" in p.errors
    assert p.executions == {"$.chord.header[0]": 1, "$.chord.header[1]": 1,
                            "$.chord.header[2]": 1, "$.chord.body": 0}
    assert p.chord_errors == ("$.chord.body",)


def test_failing_header_runs_the_bodys_own_errback_once_with_chord_error() -> None:
    # backends/base.py chord_error_from_stack: a fake request whose errbacks are the body's
    # link_error, passed to _call_task_errbacks; log_error is new-style (request, exc, tb)
    p = P(chord([T("fail"), tag("a")], tag("z", link_error=E)))
    assert p.executions["$.chord.body.link_error"] == 1
    assert result_of(p, "$.chord.body.link_error") == {"ok": "ChordError"}


def test_chord_errback_runs_once_with_chord_error_however_many_header_tasks_fail() -> None:
    # barrier "Error Handling": "errbacks linked to a chord are only applied to the body task";
    # _chord.link_error: self.body.link_error(errback); the body fails once
    p = P(chord([T("fail"), T("fail"), tag("a")], tag("z"), link_error=E))
    assert p.executions["$.link_error"] == 1
    assert result_of(p, "$.link_error") == {"ok": "ChordError"}
    assert p.executions["$.chord.body"] == 0


def test_header_errbacks_with_task_allow_error_cb_on_chord_header() -> None:
    # _chord.link_error: with task_allow_error_cb_on_chord_header the errback is also linked to
    # every header task, so it runs for the header task's failure and for the body's ChordError.
    # Configuration docs for the setting (PR #7712): with two failing header tasks the errback
    # "will be called 3 times (two times for the header and one time for the body)".
    obj = {"canvas": chord([T("fail"), tag("a")], tag("z"), link_error=E),
           "config": {"task_allow_error_cb_on_chord_header": True}}
    p = P(obj)
    assert p.executions["$.link_error"] == 2
    results = sorted(c.result["ok"] for c in p.calls["$.link_error"] if c.result is not None)
    assert results == ["ChordError", "ExpectedException"]
    # it runs twice, each after its own failure: first/last times cannot order such a node
    assert not [e for e in p.happens_before if e[1] == "$.link_error"]
    # once per failure: two failing header tasks and the body's ChordError
    obj = {"canvas": chord([T("fail"), T("fail")], tag("z"), link_error=E),
           "config": {"task_allow_error_cb_on_chord_header": True}}
    assert P(obj).executions["$.link_error"] == 3


def test_a_header_errback_may_start_before_the_other_header_tasks_end() -> None:
    obj = {"canvas": chord([T("fail"), T("fail")], tag("z"), link_error=E),
           "config": {"task_allow_error_cb_on_chord_header": True}}
    edges = set(P(obj).happens_before)
    assert ("$.chord.header[0]", "$.link_error") not in edges
    assert ("$.chord.header[1]", "$.link_error") not in edges


def test_a_header_tasks_own_errback_runs_with_its_exception() -> None:
    # mark_as_failure -> _call_task_errbacks(request, exc, traceback) for the failed task
    p = P(chord([T("fail", link_error=E), tag("a")], tag("z")))
    assert result_of(p, "$.chord.header[0].link_error") == {"ok": "ExpectedException"}


def test_failing_body_runs_the_chord_errback_once_with_its_own_exception() -> None:
    # _chord.link_error links the errback to the body; the body's own failure calls it
    p = P(chord([tag("a")], T("fail"), link_error=E))
    assert p.status == "FAILURE" and p.errors == ("ExpectedException",)
    assert p.executions["$.link_error"] == 1
    assert result_of(p, "$.link_error") == {"ok": "ExpectedException"}
    assert p.chord_errors == ()


def test_a_failure_stops_the_rest_of_the_chain() -> None:
    # guide "Chains": each task is applied as a callback of the previous one, and "the
    # callback will only be applied if the task exited successfully"
    p = P(chain(tag("a"), T("fail"), tag("b"), chord([tag("c")], tag("d"))))
    assert p.status == "FAILURE" and p.errors == ("ExpectedException",)
    assert p.executions == {"$.chain[0]": 1, "$.chain[1]": 1, "$.chain[2]": 0,
                            "$.chain[3].chord.header[0]": 0, "$.chain[3].chord.body": 0}


def test_a_failed_chord_step_stops_the_chain() -> None:
    p = P(chain(chord([tag("a")], T("fail")), tag("n")))
    assert p.executions["$.chain[1]"] == 0 and p.errors == ("ExpectedException",)
    p = P(chain(chord([T("fail")], tag("z")), tag("n")))
    assert p.executions["$.chain[0].chord.body"] == 0 and p.executions["$.chain[1]"] == 0
    assert p.chord_errors == ("$.chain[0].chord.body",)


def test_callbacks_never_run_after_a_failure() -> None:
    # guide "Callbacks": "The callback will only be applied if the task exited successfully"
    p = P(chain(T("fail", link=tag("L"), link_error=E), tag("b")))
    assert p.executions == {"$.chain[0]": 1, "$.chain[0].link": 0,
                            "$.chain[0].link_error": 1, "$.chain[1]": 0}


def test_link_receives_the_value_and_leaves_the_result_alone() -> None:
    # guide "Chains": add.apply_async((2, 2), link=mul.s(16)): res.get() -> 4 and
    # res.children[0].get() -> 64 ("mul(4, 16) since the result is 4")
    p = P(T("add", 2, 2, link=T("mul", 16)))
    assert p.value == 4
    assert args_of(p, "$.link") == [4, 16] and result_of(p, "$.link") == {"ok": 64}
    assert ("$", "$.link") in p.happens_before


def test_an_immutable_link_gets_no_arguments() -> None:
    # guide "Immutability": add.apply_async((2, 2), link=reset_buffers.si())
    p = P(T("add", 2, 2, link=tag("reset-buffers", si=True)))
    assert args_of(p, "$.link") == ["reset-buffers"]


def test_a_link_may_be_a_chain() -> None:
    p = P(tag("a", link=chain(tag("b"), tag("c"))))
    assert p.value == ["a"] and result_of(p, "$.link.chain[1]") == {"ok": [[["a"], "b"], "c"]}


def test_a_chord_link_runs_with_the_bodys_value() -> None:
    # _chord.link: "Links a callback to the chord body only"
    p = P(chord([tag("a")], tag("z"), link=tag("L")))
    assert args_of(p, "$.link") == [[[["a"]], "z"], "L"]
    assert ("$.chord.body", "$.link") in p.happens_before


def test_an_errback_runs_once_per_failure_of_its_task() -> None:
    # mark_as_failure calls request.errbacks once per failed task
    p = P(group(T("fail", link_error=E), T("fail", link_error=E), tag("ok", link_error=E)))
    assert [p.executions[f"$.group[{i}].link_error"] for i in range(3)] == [1, 1, 0]


def test_an_errback_never_runs_after_success() -> None:
    # barrier "Error Handling": c = chord([add.s(1, 2)], body=tsum.s()); c.link_error(...)
    p = P(chord([T("add", 1, 2)], T("tsum"), link_error=E))
    assert p.value == 3 and p.executions["$.link_error"] == 0


def test_an_old_style_errback_runs_once_with_the_failed_tasks_id() -> None:
    # _call_task_errbacks: an errback taking one argument is "called as a task" with the id:
    # group(old_signature).apply_async((task_id,)): Signature._merge prepends it to the
    # errback's partial args, so the model predicts a marker for the failed task's id
    p = P(chain(T("fail", link_error=tag("eb")), tag("b")))
    (call,) = p.calls["$.chain[0].link_error"]
    assert call.args == ["<task id of $.chain[0]>", "eb"] and call.kwargs == {}
    assert call.result == {"ok": ["<task id of $.chain[0]>", "eb"]}
    assert p.executions["$.chain[0].link_error"] == 1


def test_an_old_style_errback_computes_on_the_id_as_on_any_string() -> None:
    # the marker is a string, so an op on it does what it does on the real id
    p = P(group(T("fail", link_error=T("add", "-x")), T("fail", 1, link_error=T("tsum"))))
    assert result_of(p, "$.group[0].link_error") == {"ok": "<task id of $.group[0]>-x"}
    assert result_of(p, "$.group[1].link_error") == {"error": "TypeError"}


def test_an_immutable_old_style_errback_gets_no_id() -> None:
    # Signature._merge: an immutable signature ignores the partial args, the id among them
    p = P(T("fail", link_error=T("add", "e", "b", si=True, kwargs={"z": "!"})))
    assert args_of(p, "$.link_error") == ["e", "b"] and p.calls["$.link_error"][0].kwargs == {"z": "!"}
    assert result_of(p, "$.link_error") == {"ok": "eb!"}


def test_a_new_style_errback_receives_the_failed_tasks_request_and_exception() -> None:
    # trace.handle_failure -> mark_as_failure(req.id, exc, request=req) -> errback(req, exc, tb)
    p = P(chain(tag("a"), T("fail", link_error=E)))
    assert args_of(p, "$.chain[1].link_error") == ["<task id of $.chain[1]>", "ExpectedException"]


def test_a_chord_error_errback_gets_the_id_of_the_body_which_never_runs() -> None:
    # chord_error_from_stack: a fake request with task_id=callback.options["task_id"] (the
    # body's frozen id) goes to _call_task_errbacks; the body never runs, so no ledger knows it
    p = P(chord([T("fail")], tag("z", link_error=tag("eb")), link_error=E))
    never = "<task id of $.chord.body, which never runs>"
    assert args_of(p, "$.chord.body.link_error") == [never, "eb"]
    assert args_of(p, "$.link_error") == [never, "ChordError"]


def test_a_group_body_errback_gets_its_members_id_and_the_first_failures_class() -> None:
    # _handle_group_chord_error: each member result's id, with the ChordError's __cause__: on
    # Redis the first failed header member's stored exception (_unpack_chord_result, in header
    # order), on the database what join() raises for it (unlock_chord): here both ExpectedException
    p = P(chord([T("fail")], group(tag("b", link_error=E), tag("c", link_error=tag("eb")))))
    assert p.calls["$.chord.body.group[0].link_error"][0].args == [
        "<task id of $.chord.body.group[0], which never runs>", "ExpectedException"]
    assert result_of(p, "$.chord.body.group[0].link_error") == {"ok": "ExpectedException"}
    assert args_of(p, "$.chord.body.group[1].link_error") == [
        "<task id of $.chord.body.group[1], which never runs>", "eb"]


def test_a_group_body_errback_gets_the_first_failed_header_members_class() -> None:
    # in header order, not the order of failure: tsum on a string raises TypeError
    p = P(chord([tag("a"), T("tsum", "x"), T("fail")], group(tag("b", link_error=E), tag("c"))))
    assert args_of(p, "$.chord.body.group[0].link_error")[1] == "TypeError"


def test_a_group_body_errback_gets_chord_error_or_the_cause_with_a_group_result_header() -> None:
    # Redis: a GroupResult in the header makes on_chord_part_return join() it, which raises
    # the member's own exception, wrapped in ChordError("Join error") without a cause; the
    # database backend's cause is that exception: either, marked for the check to accept
    either = "<one of the exception classes ChordError ExpectedException>"
    p = P(chord([chain(tag("a"), group(T("fail"), tag("b"))), tag("c")],
                group(tag("d", link_error=E), tag("e"))))
    assert args_of(p, "$.chord.body.group[0].link_error")[1] == either
    assert result_of(p, "$.chord.body.group[0].link_error") == {"ok": either}


def test_a_header_errback_still_gets_the_id() -> None:
    # _chord.link_error: errback.clone(immutable=True) puts "immutable" in the clone's options,
    # not on the signature (Signature.clone keeps self.immutable), so the id is still prepended
    obj = {"canvas": chord([T("fail"), tag("a")], tag("z"), link_error=tag("eb")),
           "config": {"task_allow_error_cb_on_chord_header": True}}
    assert sorted(c.args[0] for c in P(obj).calls["$.link_error"] if c.args) == [
        "<task id of $.chord.body, which never runs>", "<task id of $.chord.header[0]>"]


def test_a_chord_errback_reaches_chords_nested_in_the_header() -> None:
    # _chord.link_error: "Edge case for nested chords in the header": task.link_error(errback)
    # on a header chord, so the errback runs for the inner body's failure and again for the
    # outer body's ChordError (guide "Error handling": errors propagate to the callback).
    p = P(chord([chord([tag("a")], T("fail"))], tag("z"), link_error=E))
    assert p.executions["$.link_error"] == 2
    assert [c.result for c in p.calls["$.link_error"]] == [
        {"ok": "ExpectedException"}, {"ok": "ChordError"}]


def test_a_group_led_chain_in_the_header_is_a_nested_chord_for_the_errback() -> None:
    # chain(group(a, b), fail) is built as chord(group(a, b), fail) by chain.__new__, so
    # chord.link_error's nested-chord edge case reaches it; a one-member group is unrolled and
    # the chain stays a chain, which it does not reach
    p = P(chord([chain(group(tag("a"), tag("b")), T("fail"))], tag("z"), link_error=E))
    assert p.executions["$.link_error"] == 2
    p = P(chord([chain(group(tag("a")), T("fail"))], tag("z"), link_error=E))
    assert p.executions["$.link_error"] == 1


def test_a_nested_chords_header_failure_runs_the_chord_errback_for_both_chords() -> None:
    # _chord.link_error links the errback to chords in the header too: it runs for the inner
    # chord's ChordError and again for the outer one, as the database backend does. On redis
    # the outer chord is never told (registered as redis-header-chord-error; Celery's own test
    # from PR #9580 expects one call).
    p = P(chord([chord([T("fail")], tag("i")), tag("b")], tag("z"), link_error=E))
    assert p.executions["$.link_error"] == 2


FLAG = {"task_allow_error_cb_on_chord_header": True}


def test_with_the_flag_a_nested_header_chords_tasks_hold_the_errback_once_its_body_twice() -> None:
    # _chord.link_error with the flag: the nested chord gets errback.clone(immutable=True),
    # which it links to its header and body, and then the errback itself ("Edge case for
    # nested chords in the header"), which it links to its body and, as a clone(immutable=True)
    # equal to the first, to its header: append_to_list_option keeps one of those
    obj = {"canvas": chord([chord([tag("x"), tag("y")], T("fail", "z")), tag("w")], tag("b"),
                           link_error=tag("eb")), "config": FLAG}
    calls = P(obj).calls["$.link_error"]
    z = "<task id of $.chord.header[0].chord.body>"
    assert sorted(c.args[0] for c in calls if c.args) == [
        "<task id of $.chord.body, which never runs>", z, z]
    obj = {"canvas": chord([chord([T("fail", "x"), tag("y")], tag("z")), tag("w")], tag("b"),
                           link_error=tag("eb")), "config": FLAG}
    inner_body = "<task id of $.chord.header[0].chord.body, which never runs>"
    assert sorted(c.args[0] for c in P(obj).calls["$.link_error"] if c.args) == sorted([
        "<task id of $.chord.header[0].chord.header[0]>", inner_body, inner_body,
        "<task id of $.chord.body, which never runs>"])


def test_with_the_flag_a_chord_in_a_header_group_gets_only_the_header_copy() -> None:
    # the edge case looks at the header's direct members only; a group passes the copy on
    obj = {"canvas": chord([group(chord([tag("x")], T("fail", "z")), tag("w"))], tag("b"),
                           link_error=E), "config": FLAG}
    assert P(obj).executions["$.link_error"] == 2  # z's failure, then b's ChordError


def test_a_chord_link_on_a_group_body_runs_immutable_after_the_first_member() -> None:
    # _chord.link -> group.link: "Simply link to first task", sig.clone().set(immutable=True)
    p = P(chord([tag("a")], group(tag("c"), T("fail", "d")), link=tag("L")))
    assert args_of(p, "$.link") == ["L"]
    assert ("$.chord.body.group[0]", "$.link") in p.happens_before
    assert ("$.chord.body.group[1]", "$.link") not in p.happens_before
    assert P(chord([tag("a")], group(T("fail", "c"), tag("d")), link=tag("L"))).executions[
        "$.link"] == 0


def test_a_chord_link_on_a_chain_or_chord_body_gets_the_bodys_value() -> None:
    # a chain keeps the link (_chain.run: on its last task); a chord body passes it on (_chord.link)
    p = P(chord([tag("a")], chain(tag("c"), tag("d")), link=tag("L")))
    assert args_of(p, "$.link") == [p.value, "L"]
    p = P(chord([tag("a")], chord([tag("c")], tag("e")), link=tag("L")))
    assert args_of(p, "$.link") == [p.value, "L"]


def test_a_chord_errback_on_a_group_body_is_each_members() -> None:
    # _chord.link_error -> group.link_error: a clone on each member
    p = P(chord([tag("a")], group(T("fail", "c"), T("fail", "d"), tag("e")), link_error=tag("eb")))
    assert sorted(c.args[0] for c in p.calls["$.link_error"] if c.args) == [
        "<task id of $.chord.body.group[0]>", "<task id of $.chord.body.group[1]>"]


def test_a_chord_body_chain_of_a_group_takes_a_following_step_into_a_chord() -> None:
    # chain([group]) is the group, so chord.__or__ makes chord(group, d) the body: on ChordError
    # its members' errbacks are not called (the body is a chord, not a group)
    p = P(chain(chord([T("fail")], chain(group(tag("b", link_error=E), tag("c")))), tag("d")))
    assert p.executions["$.chain[0].chord.body.chain[0].group[0].link_error"] == 0


def test_op_errors_are_failures_of_their_task() -> None:
    p = P(chain(T("add", 1, 2), T("add", "x")))  # add(3, "x")
    assert p.status == "FAILURE" and p.errors == ("TypeError",)


# ------------------------------------------------------------------ retries


def test_a_retrying_task_runs_times_plus_one() -> None:
    assert P(T("retry", 2, "v")).executions == {"$": 3}
    assert P(T("retry", 0, "v")).executions == {"$": 1}
    p = P(chain(tag("a"), T("retry", 1, "v", si=True), tag("b")))
    assert p.value == ["v", "b"]
    assert p.executions == {"$.chain[0]": 1, "$.chain[1]": 2, "$.chain[2]": 1}


# ------------------------------------------------------------------ bad input


def _error(text: str) -> CanvasError:
    with pytest.raises(CanvasError) as info:
        predict(loads_workload(text, "f.json"))
    return info.value


def test_invalid_json_names_the_file_line_and_column() -> None:
    err = _error('{"task": "tag",\n "args": [1,]}')
    assert err.path == "f.json:2:13"
    assert "invalid JSON" in str(err)


@pytest.mark.parametrize(("text", "path"), [
    ('{"task": "nope"}', "$.task"),
    ('{"chain": [{"task": "tag"}, {"task": "nope"}]}', "$.chain[1].task"),
    ('{"chain": {"task": "tag"}}', "$.chain"),
    ('{"chain": []}', "$.chain"),
    ('{"group": [1]}', "$.group[0]"),
    ('{"chord": []}', "$.chord"),
    ('{"chord": {"header": []}}', "$.chord"),
    ('{"chord": {"body": {"task": "tag"}}}', "$.chord"),
    ('{"chord": {"header": [], "body": {"task": "tag"}, "links": []}}', "$.chord"),
    ('{"chord": {"header": {"task": "tag"}, "body": {"task": "tag"}}}', "$.chord.header"),
    ('{"task": "tag", "args": 1}', "$.args"),
    ('{"task": "tag", "kwargs": [1]}', "$.kwargs"),
    ('{"task": "tag", "immutable": "yes"}', "$.immutable"),
    ('{"task": "tag", "args": [NaN]}', "$"),
    ('{"task": "tag", "countdown": 1}', "$"),
    ('{"task": "tag", "chain": []}', "$"),
    ("{}", "$"),
    ("[]", "$"),
    ('{"group": [], "link": {"task": "tag"}}', "$"),
    ('{"task": "tag", "link_error": {"task": "nope"}}', "$.link_error.task"),
    ('{"canvas": {"task": "nope"}}', "$.canvas.task"),
    ('{"canvas": {"task": "tag"}, "args": 1}', "$.args"),
    ('{"canvas": {"task": "tag"}, "kwargs": []}', "$.kwargs"),
    ('{"canvas": {"task": "tag"}, "extra": 1}', "$"),
    ('{"task": "tag", "config": {"nope": true}}', "$.config.nope"),
    ('{"task": "tag", "config": {"task_allow_error_cb_on_chord_header": 1}}',
     "$.config.task_allow_error_cb_on_chord_header"),
    ('{"chord": {"header": [{"chain": [{"group": [{"task": "tag"}, {"task": "x"}]}]}],'
     ' "body": {"task": "tag"}}}', "$.chord.header[0].chain[0].group[1].task"),
])
def test_malformed_canvases_name_the_json_path(text: str, path: str) -> None:
    err = _error(text)
    assert err.path == path and str(err).startswith(f"{path}: ")


@pytest.mark.parametrize(("obj", "path"), [
    # mul(x, y) needs two args: as a chain's first step it gets only its own
    (chain(T("mul", 2), tag("b")), "$.chain[0]"),
    (T("mul", 2), "$"),
    ({"canvas": T("mul", 2, si=True), "args": [3]}, "$"),  # .si drops the apply-time 3
    (chain(group(T("mul", 2), T("mul", 3)), T("tsum")), "$.chain[0].group[0]"),
    (chord([T("mul", 2)], T("tsum")), "$.chord.header[0]"),
    # after the first step the parent's result is prepended: three args are too many
    (chain(tag("a"), T("mul", 2, 3)), "$.chain[1]"),
    (chain(tag("a"), chain(T("mul", 2), T("mul", 2, 3))), "$.chain[1].chain[1]"),
    (chord([tag("a")], T("mul")), "$.chord.body"),  # the body gets only the header's list
    (chain(tag("a"), T("identity", kwargs={"x": 1})), "$.chain[1]"),  # x given twice
    (tag("a", link=T("mul", 1, 2)), "$.link"),  # a link gets the value prepended
    (tag("a", link_error=T("mul", 1, 2)), "$.link_error"),  # an old-style errback gets the id
    (T("log_error"), "$"),  # an errback op outside link_error
    (tag("a", link_error=T("log_error", 1)), "$.link_error"),
    (tag("a", link_error=chain(tag("e"))), "$.link_error"),
    (tag("a", link_error=tag("e", link=tag("f"))), "$.link_error"),
    (chain(group(), group()), "$"),  # a chain of empty groups has no task
    (chord([tag("a")], chain(tag("b"), group(tag("c"), tag("d"))), link=tag("L")),
     "$"),  # not modelled: a link on a body whose result is a group, but a plain group
    (chain(chord([tag("a")], group(tag("b"), tag("c")), link_error=E), tag("d")),
     "$.chain[0]"),  # not modelled: the step is attached to the group body
])
def test_canvases_that_cannot_run_name_the_json_path(obj: Obj, path: str) -> None:
    with pytest.raises(CanvasError) as info:
        P(obj)
    assert info.value.path == path


def test_arity_depends_on_position() -> None:
    # mul.s(2) after the first step gets the parent's result: mul(result, 2) is fine
    assert P(chain(T("identity", 3), T("mul", 2))).value == 6
    assert P(chain(tag("a"), group(T("mul", 2), T("mul", 3)))).value == [["a", "a"], ["a", "a", "a"]]
    assert P({"canvas": T("mul", 2), "args": [3]}).value == 6
    assert P({"canvas": chord([T("mul", 2)], T("tsum")), "args": [3]}).value == 6
    assert P(chord([tag("a")], T("mul", 2))).value == [["a"], ["a"]]


def test_a_one_member_group_after_a_leading_group_stays_the_chord_body() -> None:
    """group.__or__: chain(group(a, b), group(c)) is chord(group(a, b), group(c)), returning
    [c's value] (seen on both backends); a task-led chain unrolls group(c)."""
    t = [tag(x, si=True) for x in "abc"]
    assert P(chain(group(), group(*t[:2]), group(t[2]))).value == [["c"]]
    assert P(chain(t[0], group(*t[1:]), group(t[2]))).value == ["c"]
    # chord.__or__ then puts a task in that body: chord(group(a, b), chord(group(c), z))
    p = P(chain(group(*t[:2]), group(t[2]), tag("z")))
    assert p.value == [[["c"]], "z"]


def test_groups_after_a_leading_group_nest_when_a_task_ends_the_chain() -> None:
    """chain(g1, g2, g3, z): group.__or__, chord.__or__ -> chain(chord(g1, g2), g3), then
    _chain.__or__ collapses ``chord, group | z`` into chord(g1, chord(g2, chord(g3, z)))."""
    g = [group(tag(x + "1"), tag(x + "2")) for x in "abc"]
    p = P(chain(*g, tag("z")))
    assert p.executions == dict.fromkeys(p.executions, 1)
    assert args_of(p, "$.chain[3]")[1] == "z" and len(args_of(p, "$.chain[3]")[0]) == 2
    assert ("$.chain[1].group[0]", "$.chain[2].group[1]") in p.happens_before
    # without z the last group follows a group body: Celery runs it once per member
    with pytest.raises(CanvasError, match=r"^\$\.chain\[2\]: a step after a chord whose body is a group"):
        P(chain(*g))


def test_a_chord_whose_body_is_an_empty_group_is_refused() -> None:
    # its GroupResult has nothing to wait for: get() returns [] even when the header fails
    for body in (group(), group(group())):
        with pytest.raises(CanvasError, match="a chord whose body is an empty group"):
            P(chord([T("fail")], body))


def test_a_failing_header_of_a_chord_bodied_chord_composed_into_a_body_is_refused() -> None:
    """chain(g1, g2 with a failure, g3, z): the failing chord(g2, chord(g3, z)) is g1's body;
    on Redis get() never resolves (redis-chord-body-chord-error), so it is not predicted."""
    with pytest.raises(CanvasError, match=r"^\$\.chain\[1\]: a chord with a chord body"):
        P(chain(group(tag("a"), tag("b")), group(tag("c"), T("fail", "d")),
                group(tag("e"), tag("f")), tag("z")))
    lead_fails = P(chain(group(tag("a"), T("fail", "b")), group(tag("c"), tag("d")),
                         group(tag("e"), tag("f")), tag("z")))
    assert lead_fails.status == "FAILURE" and lead_fails.executions["$.chain[3]"] == 0


def test_a_chain_after_a_task_body_of_a_leading_group_is_a_step_after_the_chord() -> None:
    """chord(g, t) | chain(u, v) is Signature.__or__: chain(chord(g, t), u, v), so t is the
    chord's body and its own errback runs with ChordError (seen on both backends)."""
    p = P(chain(group(tag("a"), T("fail", "b")), tag("t", link_error=T("log_error")),
                chain(tag("u"), tag("v"))))
    assert [c.result for c in p.calls["$.chain[1].link_error"]] == [{"ok": "ChordError"}]
    assert p.chord_errors == ("$.chain[1]",)


def test_a_step_after_a_chord_with_an_errback_in_a_group_led_chain() -> None:
    # chord.__or__ moves the step into the chord's body, chain(z, t): z's own errback is then
    # not called on ChordError (seen on real Celery, both backends); the chord's own errback,
    # linked to z before it moved, is not modelled; a task-led chain keeps the step a step
    failing = chord([tag("h"), T("fail", "f")], tag("z"))
    for after in (tag("t", si=True), group(tag("t", si=True))):
        c = chord([tag("h"), T("fail", "f")], tag("z"), link_error=T("log_error"))
        with pytest.raises(CanvasError, match="a step composed into the body of a chord with a link"):
            P(chain(group(tag("a"), tag("b")), c, after))
        c = chord([tag("h"), T("fail", "f")], tag("z", link_error=T("log_error")))
        p = P(chain(group(tag("a"), tag("b")), c, after))
        assert not p.calls["$.chain[1].chord.body.link_error"] and p.status == "FAILURE"
    assert P(chain(tag("a"), {**failing, "link_error": T("log_error")}, tag("t", si=True))
             ).executions["$.chain[1].link_error"] == 1
    assert P(chain(group(tag("a"), tag("b")), failing, tag("t", si=True))).status == "FAILURE"


def test_a_chain_after_a_group_chord_body_in_a_group_led_chain_is_rejected() -> None:
    """chain(group(a, b), group(c, d), chain(e)) is chain(chord(group(a, b), group(c, d)), e)
    in Celery: e follows a group body (group-body-continuation), not chord(group(c, d), e)."""
    import pytest

    from chord_chaos.models.canvas import CanvasError, parse_workload
    from chord_chaos.models.semantics import predict

    t = [{"task": "tag", "args": [x], "immutable": True} for x in "abcde"]
    with pytest.raises(CanvasError, match=r"\$\.chain\[2\]\.chain\[0\]|\$\.chain\[2\]: a chain or group"):
        predict(parse_workload({"chain": [{"group": t[:2]}, {"group": t[2:4]}, {"chain": t[4:]}]}))
    assert predict(parse_workload({"chain": [{"group": t[:2]}, t[2], {"chain": t[3:]}]})).status == "SUCCESS"
    assert predict(parse_workload({"chain": [{"group": t[:2]}, {"group": t[2:4]}, t[4]]})).status == "SUCCESS"


def test_a_task_after_a_chord_with_a_group_body_is_that_groups_chord_body() -> None:
    """``chord.__or__`` attaches the task to the body, and ``group | task`` is a chord: a failing
    member stores ChordError at the task, whose errback runs with it (found by swarm canvases)."""
    w = parse_workload({"chain": [
        {"chord": {"header": [{"task": "tag", "args": ["a"]}],
                   "body": {"group": [{"task": "tag", "args": ["b"]}, {"task": "fail", "args": ["c"]}]}}},
        {"task": "tag", "args": ["d"], "link_error": {"task": "log_error"}}]})
    p = predict(w)
    assert p.status == "FAILURE" and set(p.errors) == {"ChordError", "ExpectedException"}
    assert p.executions["$.chain[1]"] == 0 and "$.chain[1]" in p.chord_errors
    assert [c.result for c in p.calls["$.chain[1].link_error"]] == [{"ok": "ChordError"}]
    # two tasks after it: their chain is that chord's body, and a chain body's tasks keep
    # their own errbacks to themselves
    steps = workload_to_json(w)["canvas"]["chain"]
    longer = parse_workload({"chain": [*steps, {"task": "tag", "args": ["e"]}]})
    q = predict(longer)
    assert set(q.errors) == {"ChordError", "ExpectedException"} and not q.calls["$.chain[1].link_error"]
    ok = parse_workload({"chain": [
        {"chord": {"header": [{"task": "tag", "args": ["a"]}],
                   "body": {"group": [{"task": "tag", "args": ["b"]}, {"task": "tag", "args": ["c"]}]}}},
        {"task": "tag", "args": ["d"]}]})
    assert predict(ok).value == [[[[["a"]], "b"], [[["a"]], "c"]], "d"]


def test_the_tasks_after_a_leading_group_are_its_chords_body_chain() -> None:
    """group.__or__ then chord.__or__: ``chain(group(a, fail), c, d)`` is ``chord(group(a, fail),
    chain(c, d))``, so c's own errback is not called on the group's failure (swarm-found)."""
    w = parse_workload({"chain": [
        {"group": [{"task": "tag", "args": ["a"]}, {"task": "fail", "args": ["b"]}]},
        {"task": "fail", "args": ["c"], "link_error": {"task": "log_error"}},
        {"task": "tag", "args": ["d"], "immutable": True}]})
    p = predict(w)
    assert not p.calls["$.chain[1].link_error"] and p.executions["$.chain[2]"] == 0
    assert "ChordError" in p.errors


def test_a_one_step_chain_is_its_step_and_unrolls_a_one_member_group_again() -> None:
    """``chain() | group`` unrolls: each one-step chain level unrolls a one-member group once,
    while a longer nested chain keeps the group it unrolled once (swarm-found, seen on both
    backends)."""
    def value(canvas: dict[str, Any]) -> Any:
        return predict(parse_workload(canvas)).value

    g2 = {"group": [{"group": [{"task": "tag", "args": ["t0"], "immutable": True}]}]}
    assert value({"chain": [g2]}) == [["t0"]]
    assert value({"chain": [{"chain": [g2]}]}) == ["t0"]
    assert value({"chain": [{"task": "tag", "args": ["x"]},
                            {"chain": [g2, {"task": "tag", "args": ["y"]}]}]}) == [[["t0"]], "y"]


def test_a_chain_led_by_a_one_step_chain_of_a_group_is_group_led() -> None:
    """So its refusals apply: a chain after the group body of its leading chord is not modelled
    (real Celery ran that chain once per member of the group: swarm-found)."""
    lead = {"chain": [{"group": [{"task": "tag", "args": ["a"]}, {"task": "tag", "args": ["b"]}]}]}
    w = {"chain": [lead, {"group": [{"task": "tag", "args": ["c"]}, {"task": "tag", "args": ["d"]}]},
                   {"chain": [{"task": "tag", "args": ["e"]}, {"task": "tag", "args": ["f"]}]}]}
    with pytest.raises(CanvasError, match="not modelled"):
        predict(parse_workload(w))


# ---------------------------------------------------------------- result_chord_ordered off


def test_each_chord_records_the_tasks_its_header_results_reach() -> None:
    """The entry tasks of a body: the body task, a chain's first task, a group's members, a
    chord body's header tasks; never an immutable task, which ignores them."""
    p = P(chain(chord([tag("a"), tag("b")], chain(tag("x"), tag("y"))),
                chord([tag("c")], group(tag("g1"), tag("g2"), tag("s", si=True)))))
    assert p.chord_inputs == {
        "$.chain[0].chord.body": ("$.chain[0].chord.body.chain[0]",),
        "$.chain[1].chord.body": ("$.chain[1].chord.body.group[0]",
                                  "$.chain[1].chord.body.group[1]")}
    nested = P(chord([tag("a")], chord([tag("h")], tag("z"))))
    assert nested.chord_inputs["$.chord.body"] == ("$.chord.body.chord.header[0]",)
    assert nested.chord_inputs["$.chord.body.chord.body"] == ("$.chord.body.chord.body",)


def test_a_header_order_received_is_what_follows_the_body_when_it_is_the_same_results() -> None:
    """Redis, result_chord_ordered off: the body gets the header's results in completion order
    (RPUSH); everything after it follows from that order."""
    w = parse_workload(chain(chord([tag("a"), tag("b")], tag("x")), tag("y")))
    body = "$.chain[0].chord.body"
    p = predict(w, {body: [["b"], ["a"]]}, unordered=True)
    assert p.calls[body][0].args == [[["b"], ["a"]], "x"]
    assert p.value == [[[["b"], ["a"]], "x"], "y"]
    # not the same results (one lost, one duplicated): the header order stays predicted
    for wrong in ([["b"]], [["b"], ["b"]], [["b"], ["a"], ["a"]], [["c"], ["a"]]):
        assert predict(w, {body: wrong}, unordered=True).value == [[[["a"], ["b"]], "x"], "y"]


def test_unordered_chords_let_a_group_bodys_errbacks_get_any_failed_members_class() -> None:
    """_unpack_chord_result raises for the first failed result in the stored list, which is in
    completion order when result_chord_ordered is off."""
    canvas = chord([T("fail", "a"), T("add", 1, "x")],
                   group(tag("b", link_error=T("log_error")), tag("c")))
    ordered = P(canvas).calls["$.chord.body.group[0].link_error"][0].result
    unordered = predict(parse_workload(canvas), unordered=True).calls[
        "$.chord.body.group[0].link_error"][0].result
    assert ordered == {"ok": "ExpectedException"}
    assert unordered == {"ok": "<one of the exception classes ExpectedException TypeError>"}
