"""The known-issues register matches only the deviations it describes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chord_chaos.check.events import Event
from chord_chaos.check.exact import Violation
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.known_issues import REGISTER, match_known
from chord_chaos.check.verdict import check
from chord_chaos.models.canvas import parse_workload, workload_to_json
from chord_chaos.models.semantics import predict
from chord_chaos.models.vocabulary import CheckName
from tests.check.runs import CELERY, excused_by, ran, task_id, verdict_of
from tests.helpers import REPO_ROOT, chord_history, chord_prediction, correct_chord_events, event


def _history(canvas: object, client: ClientView) -> History:
    w = parse_workload(canvas)
    return History("r", workload_to_json(w), "redis", client, (), 5.0, celery=CELERY)


def test_every_entry_has_a_link_versions_and_a_valid_minimal_canvas() -> None:
    for issue in REGISTER:
        assert issue.link and issue.verified_on and issue.title
        predict(parse_workload(issue.minimal_canvas))  # a well-formed, modelled canvas


def test_chain_body_errback_only_at_a_chained_chords_first_body_task() -> None:
    issue = next(k for k in REGISTER if k.id == "chain-body-errback-in-chain")
    p = predict(parse_workload(issue.minimal_canvas))
    h = _history(issue.minimal_canvas, ClientView("FAILURE", error="ExpectedException"))
    node = "$.chain[1].chord.body.chain[0].link_error"
    ran = Violation(CheckName.EXECUTIONS, "ran once", node, expected=0, observed=1)
    top = Violation(CheckName.EXECUTIONS, "ran once", "$.chord.body.chain[0].link_error", expected=0,
                    observed=1)
    twice = Violation(CheckName.EXECUTIONS, "ran twice", node, expected=0, observed=2)
    known, rest = match_known([ran, top, twice], p, h)
    assert [k for k, _ in known] == [issue.id] and rest == [top, twice]
    # a first body task unrolled from a one-member group (found by fuzz) is that task
    grouped = "$.chain[1].chord.body.chain[0].group[0].link_error"
    assert match_known([Violation(CheckName.EXECUTIONS, "ran once", grouped, expected=0, observed=1)],
                       p, h)[0]
    second = "$.chain[1].chord.body.chain[0].group[1].link_error"
    assert not match_known([Violation(CheckName.EXECUTIONS, "ran once", second, expected=0, observed=1)],
                           p, h)[0]


def test_known_issues_page_lists_exactly_the_register() -> None:
    import re

    page = (REPO_ROOT / "KNOWN_ISSUES.md").read_text()
    entries, mechanisms = page.split("## How each entry recognises its bug")
    for table in (entries, mechanisms):  # what each does, and how each is recognised
        listed = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.M)
        assert sorted(listed) == sorted(k.id for k in REGISTER)


def test_a_worker_exit_matches_only_with_celerys_reconnect_error() -> None:


    h = replace(chord_history(correct_chord_events()), celery=CELERY)
    crash = Violation(CheckName.WORKER_EXIT, "worker w0@127.0.0.1 exited by itself: Unrecoverable error: "
                                     "AttributeError(\"'NoneType' object has no attribute 'hostname'\")")
    other = Violation(CheckName.WORKER_EXIT, "worker w0@127.0.0.1 exited by itself: Unrecoverable error: "
                                     "MemoryError()")
    known, rest = match_known([crash, other], chord_prediction(), replace(h, worker_exits=(crash.message,)))
    assert [k for k, _ in known] == ["worker-exit-on-reconnect"] and rest == [other]
    # the same crash on RabbitMQ: kombu's Redis transport restores no unacked messages there
    on_rabbitmq = replace(h, worker_exits=(crash.message,), meta={**h.meta, "broker": "rabbitmq"})
    known, rest = match_known([crash], chord_prediction(), on_rabbitmq)
    assert known == [] and rest == [crash]


def test_database_retry_state_matches_the_int_retry_value_typeerror_too() -> None:
    """The seed retry_in_header.json retries with the int 5: dict(5) is a TypeError, which
    exception_to_python re-raises with its own message (a sequence gives ValueError)."""

    workload = parse_workload({"chord": {"header": [{"task": "retry", "args": [2, 5], "immutable": True},
                                                    {"task": "add", "args": [1, 1]}],
                                         "body": {"task": "tsum"}}})
    message = ("If the stored exception isn't an instance of BaseException, it must be a dictionary."
               "\nInstead got: 5")
    h = History(run="r", workload=workload_to_json(workload), backend="database",
                client=ClientView("FAILURE", error="TypeError", message=message), timeout=20,
                events=(event("start", "$.chord.header[0]", 1, [2, 5]),
                        event("end", "$.chord.header[0]", 2, outcome={"retry": 0})), celery=CELERY)
    v = Violation(CheckName.OUTCOME, f"get() raised TypeError ({message}); expected the value 7")
    p = predict(workload)
    assert [k for k, _ in match_known([v], p, h)[0]] == ["database-retry-state"]
    assert match_known([v], p, replace(h, backend="redis"))[0] == []
    other = replace(h, client=ClientView("FAILURE", error="TypeError", message="unsupported operand"))
    assert match_known([v], p, other)[0] == []


def test_message_lost_off_queue_explains_the_hang_and_what_never_ran_after() -> None:

    from chord_chaos.check.events import Event

    def record(kind: str, node: str, task_id: str) -> Event:
        return Event.from_json({"ev": kind, "run": "r", "node": node, "task_id": task_id,
                                "attempt": 0, "hostname": "client", "pid": 1, "t": 0.0, "mono": 0})

    # one header task ran; the other's message vanished
    events = [e for e in correct_chord_events() if e.node == "$.chord.header[0]"]
    deliveries = (record("publish", "$.chord.header[0]", "h0"), record("receive", "$.chord.header[0]", "h0"),
                  record("publish", "$.chord.header[1]", "h1"))
    kill = {"faults": [{"kind": "kill_worker", "target": "w0", "at": 0.0, "duration": 0.05}]}
    h = replace(chord_history(events), faults=kill, deliveries=deliveries, celery=CELERY,
                broker={"messages": [], "states": {"h1": "PENDING"}})
    hang = Violation(CheckName.LIVENESS, "the result did not resolve within 16 s")
    header = Violation(CheckName.EXECUTIONS, "$.chord.header[1] ran 0 time(s); expected 1",
                       "$.chord.header[1]", expected=1, observed=0)
    body = Violation(CheckName.EXECUTIONS, "$.chord.body ran 0 time(s); expected 1", "$.chord.body",
                     expected=1, observed=0)
    twice = Violation(CheckName.EXECUTIONS, "$.chord.header[0] ran 2 time(s); expected 1",
                      "$.chord.header[0]", expected=1, observed=2)
    known, rest = match_known([hang, header, body, twice], chord_prediction(), h)
    assert [k for k, _ in known] == ["redis-message-lost-off-queue"] * 3 and rest == [twice]
    still_queued = replace(h, broker={"messages": ["h1"], "states": {"h1": "PENDING"}})
    assert match_known([hang], chord_prediction(), still_queued)[0] == []
    unread = replace(h, broker={"error": "ConnectionError"})
    assert match_known([hang], chord_prediction(), unread)[0] == []
    flushed = replace(h, faults={"faults": [{"kind": "restart_redis", "target": "broker", "at": 0.0,
                                             "duration": 0.1}]})
    assert match_known([hang], chord_prediction(), flushed)[0] == []


def test_header_chain_group_chord_explains_its_stall_and_nothing_else() -> None:
    issue = next(k for k in REGISTER if k.id == "redis-header-chain-group-chord")
    canvas = {"chain": [issue.minimal_canvas, {"task": "tag", "args": ["after"]}]}
    p, h = ran(canvas, skip=("$.chain[0].chord.body", "$.chain[1]"))
    found = check(p, h)
    assert found.verdict == "pass"
    assert sorted(v.check for _, v in found.known) == ["executions", "executions", "liveness"]
    assert {k for k, _ in found.known} == {issue.id}
    # the same stall on the database backend is not this bug
    assert check(p, replace(h, backend="database")).verdict == "violation"
    # a header task that never ran: the header did not finish, so the hang stays unexplained
    p2, h2 = ran(canvas, skip=("$.chain[0].chord.body", "$.chain[1]",
                                "$.chain[0].chord.header[0].chain[1].group[0]"))
    assert check(p2, h2).verdict == "violation" and not check(p2, h2).known
    # the body started (and got stuck): a different bug, not explained
    body = event("start", "$.chain[0].chord.body", 99, [["x"]])
    assert check(p, replace(h, events=(*h.events, body))).verdict == "violation"
    # a chord header without the chain-ending-in-a-group-with-a-chord shape
    plain = {"chain": [{"chord": {"header": [{"chain": [{"task": "tag", "args": ["a"]},
                                                        {"group": [{"task": "tag", "args": ["b"]},
                                                                   {"task": "tag", "args": ["c"]}]}]}],
                                  "body": {"task": "tag", "args": ["z"]}}},
                       {"task": "tag", "args": ["after"]}]}
    p3, h3 = ran(plain, skip=("$.chain[0].chord.body", "$.chain[1]"))
    assert check(p3, h3).verdict == "violation" and not check(p3, h3).known




# ---------------------------------------------------------------- each entry: its own deviation
# explained, a different one planted in the same shape not (NEGATIVE names each entry's test)


def test_header_chord_whose_body_is_a_group_holding_a_chord_stalls_the_same_way() -> None:
    """Found by the property test: 3 of 3 runs hang on Redis, none on the database backend,
    and the same canvas without the inner chord passes."""
    inner = {"chord": {"header": [{"task": "tag", "args": ["a"]}], "body": {"group": [
        {"task": "tag", "args": ["b"]}, {"chord": {"header": [], "body": {"task": "tag", "args": ["c"]}}}]}}}
    canvas = {"chord": {"header": [inner], "body": {"task": "tag", "args": ["z"]}}}
    p, h = ran(canvas, skip=("$.chord.body",))
    assert _known(p, h) == ["redis-header-chain-group-chord"] and verdict_of(p, h).verdict == "pass"
    without = {"chord": {"header": [{"chord": {**inner["chord"], "body": {"group": [
        {"task": "tag", "args": ["b"]}, {"task": "tag", "args": ["c"]}]}}}], "body": {"task": "tag"}}}
    assert _violated(*ran(without, skip=("$.chord.body",))) == ["executions", "liveness"]

def _known(p: Any, h: History) -> list[str]:
    return sorted(excused_by(verdict_of(p, h)))


def _violated(p: Any, h: History) -> list[str]:
    v = verdict_of(p, h)
    assert v.verdict == "violation", v.to_json()
    return sorted(x.check for x in v.violations)


def _entry(name: str) -> Any:
    return next(k for k in REGISTER if k.id == name)


def test_celery_4004_is_a_group_ending_chain_after_a_failed_step_only() -> None:
    minimal = _entry("celery-4004").minimal_canvas
    p, h = ran(minimal)
    assert _known(p, h) == ["celery-4004"] and verdict_of(p, h).verdict == "pass"
    # a chord with a group body hanging after its own header failed (a different, since-fixed bug)
    own_header = {"chord": {"header": [{"task": "fail"}], "body": {"group": [
        {"task": "tag", "args": ["a"]}, {"task": "tag", "args": ["b"]}]}}}
    assert _violated(*ran(own_header)) == ["liveness"]
    # the same chain beside a chord whose body never ran: nothing is excused
    p, h = ran({"group": [minimal, {"chord": {"header": [{"task": "tag", "args": ["h"]}],
                                              "body": {"task": "tag", "args": ["z"]}}}]},
               skip=("$.group[1].chord.body",))
    assert _violated(p, h) == ["executions", "liveness"]
    # a group-ending chain that hangs although no step failed
    assert _violated(*ran({"chain": [{"task": "tag", "args": ["a"]}, {"group": [
        {"task": "tag", "args": ["b"]}, {"task": "tag", "args": ["c"]}]}]})) == ["liveness"]


def test_header_chain_group_after_failure_stalls_only_that_chord() -> None:
    minimal = _entry("header-chain-group-after-failure").minimal_canvas
    for backend in ("redis", "database"):
        p, h = ran(minimal, backend=backend, skip=("$.chord.body", "$.link_error"))
        assert _known(p, h) == ["header-chain-group-after-failure"] and verdict_of(p, h).verdict == "pass"
    # the header chain's step returned a value, yet the chord stalled: not this bug
    p, h = ran(minimal, skip=("$.chord.body", "$.link_error"),
               results={"$.chord.header[0].chain[0]": {"ok": None}})
    assert "liveness" in _violated(p, h)
    # a chord whose header chain ends in a task, not a group, stalling the same way
    plain = {"chord": {"header": [{"chain": [{"task": "fail"}, {"task": "tag", "args": ["a"]}]}],
                       "body": {"task": "tag", "args": ["z"]}}, "link_error": {"task": "log_error"}}
    assert _violated(*ran(plain, skip=("$.link_error",))) == ["executions", "liveness"]
    # an errback elsewhere that did not run, beside the stalled chord
    beside = {"group": [minimal, {"task": "fail", "link_error": {"task": "log_error"}}]}
    p, h = ran(beside, skip=("$.group[0].chord.body", "$.group[0].link_error", "$.group[1].link_error"))
    assert _violated(p, h) == ["executions", "executions", "liveness"]


def test_nested_group_order_is_exactly_a_reversal_at_the_nested_groups() -> None:
    minimal = _entry("nested-group-order").minimal_canvas
    p, h = ran(minimal, client=ClientView("SUCCESS", [["b"], ["a"], ["c"]]))
    assert _known(p, h) == ["nested-group-order"] and verdict_of(p, h).verdict == "pass"
    in_header = {"chord": {"header": [{"group": [{"task": "tag", "args": ["a"]},
                                                 {"task": "tag", "args": ["b"]}]}],
                           "body": {"task": "tag", "args": ["z"]}}}
    p, _ = ran(in_header)
    body = p.calls["$.chord.body"][0].args
    assert body is not None
    flipped = [list(reversed(body[0])), *body[1:]]
    p, h = ran(in_header, args={"$.chord.body": flipped}, results={"$.chord.body": {"ok": flipped}},
               client=ClientView("SUCCESS", flipped))
    assert verdict_of(p, h).verdict == "pass" and _known(p, h) == ["nested-group-order"]
    # the issue's example: a chord header reversed beside an unrelated nested group
    beside = {"group": [{"chord": {"header": [{"task": "tag", "args": [x]} for x in "abc"],
                                   "body": {"task": "identity"}}},
                        {"group": [{"task": "tag", "args": ["x"]}, {"task": "tag", "args": ["y"]}]}]}
    reversed_header = [["c"], ["b"], ["a"]]
    p, h = ran(beside, args={"$.group[0].chord.body": [reversed_header]},
               results={"$.group[0].chord.body": {"ok": reversed_header}},
               client=ClientView("SUCCESS", [reversed_header, ["x"], ["y"]]))
    assert _violated(p, h) == ["inputs", "outcome", "results"] and not _known(p, h)
    # a member's result lost, not reordered
    p, h = ran(minimal, client=ClientView("SUCCESS", [["a"], ["c"]]))
    assert _violated(p, h) == ["outcome"]


def test_retry_state_race_needs_retry_stored_over_the_awaited_tasks_success() -> None:
    minimal = _entry("retry-state-race").minimal_canvas
    retry = "$.chain[1]"
    p, h = ran(minimal, states={task_id(retry): "RETRY"})
    assert _known(p, h) == ["retry-state-race"]
    p, h = ran(minimal, states={task_id(retry): "SUCCESS"})  # nothing stored over the success
    assert _violated(p, h) == ["liveness"]
    # found by fuzz: raced inside a chord header, whose body then never runs (its join waits)
    in_header = {"chord": {"header": [minimal, {"task": "tag", "args": ["b"]}], "body": {"task": "tag"}}}
    raced = {task_id(f"$.chord.header[0]{retry[1:]}"): "RETRY"}
    p, h = ran(in_header, skip=("$.chord.body",), states=raced)
    assert _known(p, h) == ["retry-state-race"] and verdict_of(p, h).verdict == "pass"
    p, h = ran(in_header, skip=("$.chord.body", "$.chord.header[1]"), states=raced)
    assert "$.chord.header[1]" in {v.node for v in verdict_of(p, h).violations}  # not after it
    # a hang in a retry-free branch beside the retried task
    p, h = ran({"group": [minimal, {"chord": {"header": [{"task": "tag", "args": ["h"]}],
                                              "body": {"task": "tag", "args": ["z"]}}}]},
               skip=("$.group[1].chord.body",), states={task_id(f"$.group[0]{retry[1:]}"): "RETRY"})
    assert _violated(p, h) == ["executions", "liveness"]


def test_group_body_continuation_is_the_continuation_run_once_per_member() -> None:
    minimal = _entry("group-body-continuation").minimal_canvas
    after = "$.chain[1].chord.body"
    p, h = ran(minimal, times={after: 2}, resolved=True)
    assert _known(p, h) == ["group-body-continuation"] and verdict_of(p, h).verdict == "pass"
    assert _violated(*ran(minimal, times={after: 3}, resolved=True)) == ["executions"]
    # a member of the group body itself duplicated
    p, h = ran(minimal, times={"$.chain[0].chord.body.group[0]": 2}, resolved=True)
    assert _violated(p, h) == ["executions"]
    # found by fuzz: the two copies interleave, so the order check sees one start before the
    # other's end; explained only when the copies ran
    order = Violation(CheckName.ORDER, f"{after}.link started before {after} finished", f"{after}")
    p, h = ran(minimal, times={after: 2}, resolved=True)
    assert match_known([order], p, h)[0]
    p, h = ran(minimal, resolved=True)
    assert not match_known([order], p, h)[0]


def test_redis_header_chord_error_only_the_outer_errbacks_and_hang() -> None:
    minimal = _entry("redis-header-chord-error").minimal_canvas
    p, h = ran(minimal, skip=("$.link_error",))
    assert _known(p, h) == ["redis-header-chord-error"] and verdict_of(p, h).verdict == "pass"
    assert _violated(p, replace(h, backend="database")) == ["executions", "liveness"]
    # a sibling header task that never ran
    wider = {**minimal, "chord": {**minimal["chord"],
                                  "header": [*minimal["chord"]["header"], {"task": "tag", "args": ["c"]}]}}
    p, h = ran(wider, skip=("$.link_error", "$.chord.header[1]"))
    assert "liveness" in _violated(p, h) and "$.chord.header[1]" in {
        v.node for v in verdict_of(p, h).violations}


def test_redis_chord_body_chord_error_is_a_hang_of_a_group_awaiting_it() -> None:
    minimal = _entry("redis-chord-body-chord-error").minimal_canvas
    p, h = ran(minimal)
    assert _known(p, h) == ["redis-chord-body-chord-error"]
    assert _violated(*ran(minimal["group"][0])) == ["liveness"]  # top level: get() raises
    # found by fuzz: at top level, a GroupResult in the body chord's body is never marked either
    group_below = {"chord": {"header": [{"task": "fail"}], "body": {"chord": {"header": [], "body": {
        "group": [{"task": "tag", "args": ["b"]}]}}}}}
    assert _known(*ran(group_below)) == ["redis-chord-body-chord-error"]
    # found by the property test: the body chord as a chain of that one chord, whose id it shares
    one_step = {"chord": {"header": [{"task": "fail"}], "body": {"chain": [
        group_below["chord"]["body"]]}}}
    assert _known(*ran(one_step)) == ["redis-chord-body-chord-error"]
    two_steps = {"chord": {"header": [{"task": "fail"}], "body": {"chain": [
        group_below["chord"]["body"], {"task": "tag", "args": ["c"]}]}}}
    assert _violated(*ran(two_steps)) == ["liveness"]  # a chain of more: not this mechanism
    # found by fuzz: the awaited group reached through a one-step chain that folds to it
    folded = {"chain": [{"group": [{"task": "tag", "args": ["a"]}, *minimal["group"]]}]}
    assert _known(*ran(folded)) == ["redis-chord-body-chord-error"]
    # found by fuzz (3 of 3 runs hang): the failing chord as another chord's body
    in_body = {"chord": {"header": [{"task": "tag", "args": ["a"]}], "body": minimal["group"][0]}}
    assert _known(*ran(in_body)) == ["redis-chord-body-chord-error"]
    # ...but not the same chord as a header member (redis-header-chord-error's) with a sibling missing
    in_header = {"chord": {"header": [minimal["group"][0], {"task": "tag"}], "body": {"task": "tag"}}}
    assert "executions" in _violated(*ran(in_header, skip=("$.chord.header[1]",)))
    assert _violated(*ran(minimal, backend="database")) == ["liveness"]
    beside = {"group": [*minimal["group"], {"chord": {"header": [{"task": "tag", "args": ["h"]}],
                                                      "body": {"task": "tag", "args": ["z"]}}}]}
    assert _violated(*ran(beside, skip=("$.group[1].chord.body",))) == ["executions", "liveness"]


def test_database_header_chord_body_chord_stalls_only_inside_a_chord() -> None:
    issue = _entry("database-header-chord-body-chord")
    p, h = ran(issue.minimal_canvas, backend="database")
    assert _known(p, h) == [issue.id]
    assert _known(*ran(issue.minimal_canvas)) == ["redis-header-chord-error"]  # its Redis mechanism
    inner = issue.minimal_canvas["chord"]["header"][0]
    p, h = ran({"chord": {"header": [{"task": "tag", "args": ["a"]}], "body": inner}}, backend="database")
    assert _known(p, h) == [issue.id]
    # the same shape as a chain step, not inside a chord
    step = {"chain": [inner, {"task": "tag", "args": ["z"]}]}
    assert _violated(*ran(step, backend="database")) == ["liveness"]
    # found by fuzz (deterministic): at the top level, a GroupResult in the body chord's body
    group_below = {"chord": {"header": [{"task": "fail"}], "body": {"chord": {"header": [], "body": {
        "group": [{"task": "tag", "args": ["b"]}]}}}}}
    assert _known(*ran(group_below, backend="database")) == [issue.id]
    one_step = {"chord": {"header": [{"task": "fail"}], "body": {"chain": [group_below["chord"]["body"]]}}}
    assert _known(*ran(one_step, backend="database")) == [issue.id]  # a chain of that one chord
    two_steps = {"chord": {"header": [{"task": "fail"}], "body": {"chain": [
        group_below["chord"]["body"], {"task": "tag", "args": ["c"]}]}}}
    assert _violated(*ran(two_steps, backend="database")) == ["liveness"]
    # found by fuzz: the outer chord, never complete, never runs its errback
    with_errback = {**issue.minimal_canvas, "link_error": {"task": "tag", "args": ["e"]}}
    p, h = ran(with_errback, backend="database", skip=("$.link_error",))
    assert _known(p, h) == [issue.id] and verdict_of(p, h).verdict == "pass"
    p, h = ran(with_errback, backend="database", skip=("$.link_error", "$.chord.header[0].chord.header"))
    assert "executions" in _violated(p, h)  # the inner header never ran: not this bug
    # a task body in the same place is marked failed
    task_body = {"chord": {"header": [{"chord": {"header": [{"task": "fail"}],
                                                 "body": {"task": "tag", "args": ["b"]}}}],
                           "body": {"task": "tag", "args": ["z"]}}}
    assert _violated(*ran(task_body, backend="database")) == ["liveness"]
    # an outer header sibling that never ran
    wider = {"chord": {"header": [inner, {"task": "tag", "args": ["c"]}], "body": {"task": "tag"}}}
    assert _violated(*ran(wider, backend="database", skip=("$.chord.header[1]",))) == [
        "executions", "liveness"]


def test_database_retry_state_explains_only_what_waits_on_the_retried_task() -> None:
    in_header = {"chord": {"header": [{"task": "retry", "args": [1, "v"], "immutable": True},
                                      {"task": "tag", "args": ["b"]}],
                           "body": {"task": "tag", "args": ["z"]}}}
    p, h = ran(in_header, backend="database", skip=("$.chord.body",))
    assert _known(p, h) == ["database-retry-state"] and verdict_of(p, h).verdict == "pass"
    # a retry in one branch, a body that never ran in another
    branches = {"group": [{"task": "retry", "args": [1, "v"], "immutable": True},
                          {"chord": {"header": [{"task": "tag", "args": ["h"]}],
                                     "body": {"task": "tag", "args": ["z"]}}}]}
    p, h = ran(branches, backend="database", skip=("$.group[1].chord.body",))
    assert _violated(p, h) == ["executions", "liveness"]
    assert _violated(*ran(in_header, skip=("$.chord.body",))) == ["executions", "liveness"]  # redis


def test_worker_lost_after_success_needs_a_real_kill_after_a_header_success() -> None:
    minimal = _entry("worker-lost-after-success").minimal_canvas
    first = "$.chord.header[0]"

    def killed(applied: float, note: str | None = None, **kw: Any) -> tuple[Any, History]:
        kill = {"fault": 0, "kind": "kill_child", "target": "@anchor", "applied": applied,
                "healed": applied + 0.05, "resolved": ["w0:7"], "error": None, "note": note}
        return ran(minimal, skip=("$.chord.body", *kw.pop("skip", ())), pids={first: 7},
                   nemesis=(kill,), delivery="acks-late",
                   faults=_entry("worker-lost-after-success").plan, **kw)

    p, h = killed(0.05)  # the header task ended at 0.02 s
    assert _known(p, h) == ["worker-lost-after-success"]
    assert _violated(*killed(2.0)) == ["liveness"]  # long after: the chord had counted it
    assert _violated(*killed(0.05, note="pid 7 is no longer a pool child of w0")) == ["liveness"]
    assert _violated(*killed(0.05, backend="database")) == ["liveness"]
    p, h = killed(0.05, skip=("$.chord.header[3]",))  # a header task never ran: not one short
    assert _violated(p, h) == ["liveness"] and not _known(p, h)


def test_a_chord_claim_needs_a_killed_worker_right_after_a_header_end_and_a_copy_within_the_claim() -> None:
    entry = _entry("chord-claim-held-by-killed-worker")
    second = "$.chord.header[1]"  # ends at 0.04 s on w0

    def killed(kill_at: float = 0.05, copy_at: float | None = 0.1, kind: str = "kill_worker",
               **kw: Any) -> tuple[Any, History]:
        p, h = ran(entry.minimal_canvas, skip=("$.chord.body", *kw.pop("skip", ())),
                   delivery="acks-late", faults=entry.plan, **kw)
        events = [replace(e, hostname="w0@127.0.0.1") for e in h.events]
        if copy_at is not None:  # the redelivered copy, on the other worker
            start = next(e for e in events if e.node == second and e.kind == "start")
            end = next(e for e in events if e.node == second and e.kind == "end")
            events += [replace(x, hostname="w1@127.0.0.1", pid=2, redelivered=True,
                               mono=int((copy_at + i * 0.01) * 1e9)) for i, x in enumerate((start, end))]
        kill = {"fault": 0, "kind": kind, "target": "@anchor", "applied": kill_at, "healed": kill_at + 0.05,
                "resolved": ["w0" if kind == "kill_worker" else "w0:9"], "error": None, "note": None}
        return p, replace(h, events=tuple(events), nemesis=(kill,))

    p, h = killed()
    assert _known(p, h) == ["chord-claim-held-by-killed-worker"] and verdict_of(p, h).verdict == "pass"
    unexplained = ["executions", "liveness"]  # the body never ran, and get() never returned
    assert _violated(*killed(copy_at=0.05 + 25.0)) == unexplained  # after the claim: dispatched
    assert _violated(*killed(copy_at=None)) == unexplained  # no copy: not this mechanism
    assert _violated(*killed(kill_at=2.0, copy_at=2.1)) == unexplained  # long after the end
    assert "chord-claim-held-by-killed-worker" not in _known(*killed(kind="kill_child"))
    assert _violated(*killed(backend="database")) == unexplained
    p, h = killed(skip=("$.chord.header[0]",))  # a header task never ran: not a complete chord
    assert "liveness" in _violated(p, h) and not _known(p, h)


def test_redis_header_chord_group_body_chord_is_the_innermost_result_in_place_of_the_header() -> None:
    minimal = _entry("redis-header-chord-group-body-chord").minimal_canvas
    p, _ = ran(minimal)
    y = "$.chord.header[0].chord.body.group[0].chord.body"
    (call,) = p.calls[y]
    assert call.result is not None
    wrong = [[call.result["ok"]], "z"]  # what Celery hands the body: the innermost result alone
    p, h = ran(minimal, args={"$.chord.body": wrong}, results={"$.chord.body": {"ok": wrong}},
               client=ClientView("SUCCESS", wrong))
    assert _known(p, h) == ["redis-header-chord-group-body-chord"] and verdict_of(p, h).verdict == "pass"
    assert _violated(p, replace(h, backend="database")) == ["inputs", "outcome", "results"]
    # the header's results lost another way: the last member's alone
    other = [[["t"]], "z"]
    p, h = ran(minimal, args={"$.chord.body": other}, results={"$.chord.body": {"ok": other}},
               client=ClientView("SUCCESS", other))
    assert _violated(p, h) == ["inputs", "outcome", "results"]
    # the right input, but the body computed something else from it
    p, h = ran(minimal, args={"$.chord.body": wrong}, results={"$.chord.body": {"ok": ["z"]}},
               client=ClientView("SUCCESS", ["z"]))
    assert _violated(p, h) == ["outcome", "results"]
    # found by fuzz: with a failing header member, the body still runs, called early
    failing = {"chord": {**minimal["chord"], "header": [*minimal["chord"]["header"], {"task": "fail"}]}}
    p, h = ran(failing)
    body = (event("start", "$.chord.body", 10**12, wrong), event("end", "$.chord.body", 10**12 + 1,
                                                                  outcome={"ok": wrong}))
    early = replace(h, events=(*h.events, *body), client=ClientView("SUCCESS", wrong))
    assert verdict_of(p, early).verdict == "pass"
    assert _known(p, early) == ["redis-header-chord-group-body-chord"]
    # ...but not when it started before the innermost body ended
    before = replace(early, events=(*h.events, *(replace(e, mono=1) for e in body)))
    assert _violated(p, before) == ["executions", "outcome"]


NEGATIVE = {
    "redis-header-chord-group-body-chord":
        test_redis_header_chord_group_body_chord_is_the_innermost_result_in_place_of_the_header,
    "celery-4004": test_celery_4004_is_a_group_ending_chain_after_a_failed_step_only,
    "header-chain-group-after-failure":
        test_header_chain_group_after_failure_stalls_only_that_chord,
    "nested-group-order": test_nested_group_order_is_exactly_a_reversal_at_the_nested_groups,
    "retry-state-race": test_retry_state_race_needs_retry_stored_over_the_awaited_tasks_success,
    "group-body-continuation": test_group_body_continuation_is_the_continuation_run_once_per_member,
    "chain-body-errback-in-chain": test_chain_body_errback_only_at_a_chained_chords_first_body_task,
    "redis-header-chord-error": test_redis_header_chord_error_only_the_outer_errbacks_and_hang,
    "redis-chord-body-chord-error": test_redis_chord_body_chord_error_is_a_hang_of_a_group_awaiting_it,
    "database-header-chord-body-chord": test_database_header_chord_body_chord_stalls_only_inside_a_chord,
    "redis-header-chain-group-chord": test_header_chain_group_chord_explains_its_stall_and_nothing_else,
    "database-retry-state": test_database_retry_state_explains_only_what_waits_on_the_retried_task,
    "worker-exit-on-reconnect": test_a_worker_exit_matches_only_with_celerys_reconnect_error,
    "worker-lost-after-success": test_worker_lost_after_success_needs_a_real_kill_after_a_header_success,
    "chord-claim-held-by-killed-worker":
        test_a_chord_claim_needs_a_killed_worker_right_after_a_header_end_and_a_copy_within_the_claim,
    "redis-message-lost-off-queue": test_message_lost_off_queue_explains_the_hang_and_what_never_ran_after,
}


def test_every_entry_has_a_negative_test() -> None:
    assert set(NEGATIVE) == {k.id for k in REGISTER}


def test_an_entry_does_not_excuse_on_a_celery_release_it_was_not_verified_on() -> None:
    minimal = _entry("nested-group-order").minimal_canvas
    p, h = ran(minimal, client=ClientView("SUCCESS", [["b"], ["a"], ["c"]]))
    other = verdict_of(p, replace(h, celery="5.4.0"))
    assert other.verdict == "violation" and not other.known
    assert "resembles nested-group-order, not verified on Celery 5.4.0" in other.violations[0].message
    unknown = verdict_of(p, replace(h, celery=""))
    assert unknown.verdict == "violation" and "an unrecorded Celery release" in unknown.violations[0].message


def test_strict_mode_excuses_nothing_and_says_so() -> None:
    minimal = _entry("nested-group-order").minimal_canvas
    p, h = ran(minimal, client=ClientView("SUCCESS", [["b"], ["a"], ["c"]]), meta={"strict": True})
    v = verdict_of(p, h)
    assert v.verdict == "violation" and not v.known and v.to_json()["mode"] == "strict"
    assert verdict_of(p, replace(h, meta={})).to_json()["mode"] == "register"
