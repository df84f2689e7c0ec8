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
from tests.helpers import REPO_ROOT, chord_history, chord_prediction, correct_chord_events, event


def _history(canvas: object, client: ClientView) -> History:
    w = parse_workload(canvas)
    return History("r", workload_to_json(w), "redis", client, (), 5.0)


def test_every_entry_has_a_link_versions_and_a_valid_minimal_canvas() -> None:
    for issue in REGISTER:
        assert issue.link and issue.celery_versions and issue.title
        predict(parse_workload(issue.minimal_canvas))  # a well-formed, modelled canvas


def test_hang_after_upstream_failure_matches_its_canvas_only() -> None:
    issue = next(k for k in REGISTER if k.id == "celery-4004")
    hang = Violation(CheckName.LIVENESS, "did not resolve")
    w = parse_workload(issue.minimal_canvas)
    known, rest = match_known([hang], predict(w), _history(issue.minimal_canvas,
                                                          ClientView("TIMEOUT")))
    assert [k for k, _ in known] == ["celery-4004"] and not rest
    plain = {"chain": [{"task": "fail", "immutable": True}, {"task": "tag"}]}
    known, rest = match_known([hang], predict(parse_workload(plain)),
                              _history(plain, ClientView("TIMEOUT")))
    assert not known and rest == [hang]
    # found by swarm-drawn canvases: a chord body that is a one-member group is not unrolled
    one = {"chain": [{"task": "fail", "args": ["t0"]}, {"chord": {
        "header": [{"task": "tag", "args": ["t1"]}], "body": {"group": [{"task": "tag", "args": ["t2"]}]}}}]}
    known, _ = match_known([hang], predict(parse_workload(one)), _history(one, ClientView("TIMEOUT")))
    assert [k for k, _ in known] == ["celery-4004"]
    task_body = {"chain": [{"task": "fail", "args": ["t0"]}, {"chord": {
        "header": [{"task": "tag", "args": ["t1"]}], "body": {"task": "tag", "args": ["t2"]}}}]}
    known, rest = match_known([hang], predict(parse_workload(task_body)),
                              _history(task_body, ClientView("TIMEOUT")))
    assert not known and rest == [hang]  # a task body is marked failed: a hang there is a violation


def test_nested_group_order_matches_order_only_differences() -> None:
    issue = next(k for k in REGISTER if k.id == "nested-group-order")
    w = parse_workload(issue.minimal_canvas)
    p = predict(w)
    h = _history(issue.minimal_canvas, ClientView("SUCCESS", [["b"], ["a"], ["c"]]))
    reordered = Violation(CheckName.OUTCOME, "order", expected=p.value, observed=[["b"], ["a"], ["c"]])
    lost = Violation(CheckName.OUTCOME, "lost", expected=p.value, observed=[["a"], ["c"]])
    known, rest = match_known([reordered, lost], p, h)
    assert [k for k, _ in known] == ["nested-group-order"]
    assert rest == [lost]


def test_order_only_differences_inside_results_records_match() -> None:
    issue = next(k for k in REGISTER if k.id == "nested-group-order")
    canvas = {"chord": {"header": [{"group": [{"task": "tag", "args": ["a"]},
                                              {"task": "tag", "args": ["b"]}]}],
                        "body": {"task": "tag", "args": ["z"]}}}
    w = parse_workload(canvas)
    v = Violation(CheckName.RESULTS, "order", "$.chord.body", expected=[{"ok": [[["a"], ["b"]], "z"]}],
                  observed=[{"ok": [[["b"], ["a"]], "z"]}])
    known, rest = match_known([v], predict(w), _history(canvas, ClientView("SUCCESS", None)))
    assert [k for k, _ in known] == [issue.id] and not rest


def test_chain_body_errback_matches_only_the_first_body_task_of_a_chained_chord() -> None:
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


def test_known_issues_page_lists_exactly_the_register() -> None:
    import re

    page = (REPO_ROOT / "KNOWN_ISSUES.md").read_text()
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", page, flags=re.M)
    assert sorted(listed) == sorted(k.id for k in REGISTER)


def test_redis_header_chord_failure_matches_only_on_redis_after_a_nested_header_failure() -> None:
    issue = next(k for k in REGISTER if k.id == "redis-header-chord-error")
    inner = {"chord": {"header": [{"task": "fail"}], "body": {"task": "tag", "args": ["b"]}}}
    canvas = {"chord": {"header": [{"chain": [inner]}], "body": {"task": "tag", "args": ["z"]}}}
    p = predict(parse_workload(canvas))
    hang = Violation(CheckName.LIVENESS, "did not resolve")
    on_redis = _history(canvas, ClientView("TIMEOUT"))
    known, rest = match_known([hang], p, on_redis)
    assert [k for k, _ in known] == [issue.id] and not rest
    w = parse_workload(canvas)
    on_db = History("r", workload_to_json(w), "database", ClientView("TIMEOUT"), (), 5.0)
    known, rest = match_known([hang], p, on_db)
    assert not known and rest == [hang]
    healthy = {"chord": {"header": [{"chord": {"header": [{"task": "tag", "args": ["a"]}],
                                               "body": {"task": "tag", "args": ["b"]}}}],
                         "body": {"task": "tag", "args": ["z"]}}}
    known, rest = match_known([hang], predict(parse_workload(healthy)),
                              _history(healthy, ClientView("TIMEOUT")))
    assert not known


def test_chord_body_chord_error_matches_a_hang_on_redis_only() -> None:
    issue = next(k for k in REGISTER if k.id == "redis-chord-body-chord-error")
    w = parse_workload(issue.minimal_canvas)
    p = predict(w)
    hang = Violation(CheckName.LIVENESS, "did not resolve")
    known, _ = match_known([hang], p, _history(issue.minimal_canvas, ClientView("TIMEOUT")))
    assert [k for k, _ in known] == [issue.id]
    on_db = History("r", workload_to_json(w), "database", ClientView("TIMEOUT"), (), 5.0)
    assert match_known([hang], p, on_db) == ([], [hang])
    task_body = {"group": [{"chord": {"header": [{"task": "fail"}], "body": {"task": "tag"}}}]}
    known, _ = match_known([hang], predict(parse_workload(task_body)),
                           _history(task_body, ClientView("TIMEOUT")))
    assert not known


def test_a_worker_exit_matches_only_with_celerys_reconnect_error() -> None:


    h = chord_history(correct_chord_events())
    crash = Violation(CheckName.WORKER_EXIT, "worker w0@127.0.0.1 exited by itself: Unrecoverable error: "
                                     "AttributeError(\"'NoneType' object has no attribute 'hostname'\")")
    other = Violation(CheckName.WORKER_EXIT, "worker w0@127.0.0.1 exited by itself: Unrecoverable error: "
                                     "MemoryError()")
    known, rest = match_known([crash, other], chord_prediction(), replace(h, worker_exits=(crash.message,)))
    assert [k for k, _ in known] == ["worker-exit-on-reconnect"] and rest == [other]


def test_a_child_killed_after_its_task_succeeded_matches_only_that_hang() -> None:


    events = correct_chord_events()[:4]  # both header tasks ended; the body never ran
    record = {"kind": "kill_child", "applied": 0.1, "resolved": ["w0:1"]}
    hang = Violation(CheckName.LIVENESS, "the result did not resolve within 16 s")
    h = replace(chord_history(events), nemesis=(record,), faults={"faults": [
        {"kind": "kill_child", "target": "w0", "at": 0.0, "duration": 0.05}]})
    assert [k for k, _ in match_known([hang], chord_prediction(), h)[0]] == ["worker-lost-after-success"]
    mid_task = replace(h, events=tuple(events[:1]))  # pid 1 killed while running: not this issue
    assert match_known([hang], chord_prediction(), mid_task)[0] == []
    assert match_known([hang], chord_prediction(), replace(h, backend="database"))[0] == []


def test_database_retry_state_matches_the_int_retry_value_typeerror_too() -> None:
    """The seed retry_in_header.json retries with the int 5: dict(5) is a TypeError, which
    exception_to_python re-raises with its own message (a sequence gives ValueError)."""

    workload = parse_workload({"chord": {"header": [{"task": "retry", "args": [2, 5], "immutable": True},
                                                    {"task": "add", "args": [1, 1]}],
                                         "body": {"task": "tsum"}}})
    message = ("If the stored exception isn't an instance of BaseException, it must be a dictionary."
               "\nInstead got: 5")
    h = History(run="r", workload=workload_to_json(workload), backend="database",
                client=ClientView("FAILURE", error="TypeError", message=message), events=(), timeout=20)
    v = Violation(CheckName.OUTCOME, f"get() raised TypeError ({message}); expected the value 7")
    p = predict(workload)
    assert [k for k, _ in match_known([v], p, h)[0]] == ["database-retry-state"]
    assert match_known([v], p, replace(h, backend="redis"))[0] == []
    other = replace(h, client=ClientView("FAILURE", error="TypeError", message="unsupported operand"))
    assert match_known([v], p, other)[0] == []


def test_a_message_lost_off_the_queue_explains_the_hang_and_what_never_ran_after_it() -> None:

    from chord_chaos.check.events import Event

    def record(kind: str, node: str, task_id: str) -> Event:
        return Event.from_json({"ev": kind, "run": "r", "node": node, "task_id": task_id,
                                "attempt": 0, "hostname": "client", "pid": 1, "t": 0.0, "mono": 0})

    # one header task ran; the other's message vanished
    events = [e for e in correct_chord_events() if e.node == "$.chord.header[0]"]
    deliveries = (record("publish", "$.chord.header[0]", "h0"), record("receive", "$.chord.header[0]", "h0"),
                  record("publish", "$.chord.header[1]", "h1"))
    kill = {"faults": [{"kind": "kill_worker", "target": "w0", "at": 0.0, "duration": 0.05}]}
    h = replace(chord_history(events), faults=kill, deliveries=deliveries,
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


def _ran(workload: object, skip: tuple[str, ...] = (), backend: str = "redis") -> tuple[Any, History]:
    """A history in which every predicted execution ran with its predicted arguments, except
    the nodes under ``skip``, and get() timed out: the checker's own violations, no hand-made."""
    w = parse_workload(workload)
    p = predict(w)
    events: list[Event] = []
    for i, (node, calls) in enumerate(sorted(p.calls.items())):
        if node.startswith(skip) or not calls:
            continue
        args = list(calls[0].args or [])
        events += [event("start", node, 2 * i, args), event("end", node, 2 * i + 1, outcome=calls[0].result)]
    h = History("r", workload_to_json(w), backend, ClientView("TIMEOUT"), tuple(events), 5.0)
    return p, h


def test_header_chain_group_chord_explains_its_stall_and_nothing_else() -> None:
    issue = next(k for k in REGISTER if k.id == "redis-header-chain-group-chord")
    canvas = {"chain": [issue.minimal_canvas, {"task": "tag", "args": ["after"]}]}
    p, h = _ran(canvas, skip=("$.chain[0].chord.body", "$.chain[1]"))
    found = check(p, h)
    assert found.verdict == "pass"
    assert sorted(v.check for _, v in found.known) == ["executions", "executions", "liveness"]
    assert {k for k, _ in found.known} == {issue.id}
    # the same stall on the database backend is not this bug
    assert check(p, replace(h, backend="database")).verdict == "violation"
    # a header task that never ran: the header did not finish, so the hang stays unexplained
    p2, h2 = _ran(canvas, skip=("$.chain[0].chord.body", "$.chain[1]",
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
    p3, h3 = _ran(plain, skip=("$.chain[0].chord.body", "$.chain[1]"))
    assert check(p3, h3).verdict == "violation" and not check(p3, h3).known


def test_a_header_chord_with_a_chord_body_stalls_only_on_the_database_backend() -> None:
    issue = next(k for k in REGISTER if k.id == "database-header-chord-body-chord")
    hang = Violation(CheckName.LIVENESS, "did not resolve")
    w = parse_workload(issue.minimal_canvas)
    db = replace(_history(issue.minimal_canvas, ClientView("TIMEOUT")), backend="database")
    known, rest = match_known([hang], predict(w), db)
    assert [k for k, _ in known] == [issue.id] and not rest
    wrong = Violation(CheckName.OUTCOME, "a value", expected=None, observed=["b"])
    assert match_known([wrong], predict(w), db)[1] == [wrong]  # only the hang is explained
    # a task body in the same place is marked failed: its hang stays a violation
    task_body = {"chord": {"header": [{"chord": {"header": [{"task": "fail"}],
                                                 "body": {"task": "tag", "args": ["b"]}}}],
                           "body": {"task": "tag", "args": ["z"]}}}
    h = replace(_history(task_body, ClientView("TIMEOUT")), backend="database")
    assert match_known([hang], predict(parse_workload(task_body)), h) == ([], [hang])
    # in another chord's body, get() on the innermost body cannot follow parents to the failure
    inner = issue.minimal_canvas["chord"]["header"][0]
    in_body = {"chord": {"header": [{"task": "tag", "args": ["a"]}], "body": inner}}
    h = replace(_history(in_body, ClientView("TIMEOUT")), backend="database")
    assert [k for k, _ in match_known([hang], predict(parse_workload(in_body)), h)[0]] == [issue.id]
    # the same shape as a chain step, not inside a chord: not this mechanism
    step = {"chain": [inner, {"task": "tag", "args": ["z"]}]}
    h = replace(_history(step, ClientView("TIMEOUT")), backend="database")
    assert match_known([hang], predict(parse_workload(step)), h) == ([], [hang])
