"""The known-issues register matches only the deviations it describes."""

from __future__ import annotations

from chord_chaos.harness.checks import Violation
from chord_chaos.harness.history import ClientView, History
from chord_chaos.harness.known_issues import REGISTER, match_known
from chord_chaos.models.canvas import parse_workload, workload_to_json
from chord_chaos.models.semantics import predict


def _history(canvas: object, client: ClientView) -> History:
    w = parse_workload(canvas)
    return History("r", workload_to_json(w), "redis", client, (), 5.0)


def test_every_entry_has_a_link_versions_and_a_valid_minimal_canvas() -> None:
    for issue in REGISTER:
        assert issue.link and issue.celery_versions and issue.title
        predict(parse_workload(issue.minimal_canvas))  # a well-formed, modelled canvas


def test_hang_after_upstream_failure_matches_its_canvas_only() -> None:
    issue = next(k for k in REGISTER if k.id == "celery-4004")
    hang = Violation("liveness", "did not resolve")
    w = parse_workload(issue.minimal_canvas)
    known, rest = match_known([hang], predict(w), _history(issue.minimal_canvas,
                                                          ClientView("TIMEOUT")))
    assert [k for k, _ in known] == ["celery-4004"] and not rest
    plain = {"chain": [{"task": "fail", "immutable": True}, {"task": "tag"}]}
    known, rest = match_known([hang], predict(parse_workload(plain)),
                              _history(plain, ClientView("TIMEOUT")))
    assert not known and rest == [hang]


def test_nested_group_order_matches_order_only_differences() -> None:
    issue = next(k for k in REGISTER if k.id == "nested-group-order")
    w = parse_workload(issue.minimal_canvas)
    p = predict(w)
    h = _history(issue.minimal_canvas, ClientView("SUCCESS", [["b"], ["a"], ["c"]]))
    reordered = Violation("outcome", "order", expected=p.value, observed=[["b"], ["a"], ["c"]])
    lost = Violation("outcome", "lost", expected=p.value, observed=[["a"], ["c"]])
    known, rest = match_known([reordered, lost], p, h)
    assert [k for k, _ in known] == ["nested-group-order"]
    assert rest == [lost]


def test_order_only_differences_inside_results_records_match() -> None:
    issue = next(k for k in REGISTER if k.id == "nested-group-order")
    canvas = {"chord": {"header": [{"group": [{"task": "tag", "args": ["a"]},
                                              {"task": "tag", "args": ["b"]}]}],
                        "body": {"task": "tag", "args": ["z"]}}}
    w = parse_workload(canvas)
    v = Violation("results", "order", "$.chord.body", expected=[{"ok": [[["a"], ["b"]], "z"]}],
                  observed=[{"ok": [[["b"], ["a"]], "z"]}])
    known, rest = match_known([v], predict(w), _history(canvas, ClientView("SUCCESS", None)))
    assert [k for k, _ in known] == [issue.id] and not rest


def test_chain_body_errback_matches_only_the_first_body_task_of_a_chained_chord() -> None:
    issue = next(k for k in REGISTER if k.id == "chain-body-errback-in-chain")
    p = predict(parse_workload(issue.minimal_canvas))
    h = _history(issue.minimal_canvas, ClientView("FAILURE", error="ExpectedException"))
    node = "$.chain[1].chord.body.chain[0].link_error"
    ran = Violation("executions", "ran once", node, expected=0, observed=1)
    top = Violation("executions", "ran once", "$.chord.body.chain[0].link_error", expected=0,
                    observed=1)
    twice = Violation("executions", "ran twice", node, expected=0, observed=2)
    known, rest = match_known([ran, top, twice], p, h)
    assert [k for k, _ in known] == [issue.id] and rest == [top, twice]


def test_known_issues_page_lists_exactly_the_register() -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "KNOWN_ISSUES.md").read_text()
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", page, flags=re.M)
    assert sorted(listed) == sorted(k.id for k in REGISTER)


def test_redis_header_chord_failure_matches_only_on_redis_after_a_nested_header_failure() -> None:
    issue = next(k for k in REGISTER if k.id == "redis-header-chord-error")
    inner = {"chord": {"header": [{"task": "fail"}], "body": {"task": "tag", "args": ["b"]}}}
    canvas = {"chord": {"header": [{"chain": [inner]}], "body": {"task": "tag", "args": ["z"]}}}
    p = predict(parse_workload(canvas))
    hang = Violation("liveness", "did not resolve")
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
    hang = Violation("liveness", "did not resolve")
    known, _ = match_known([hang], p, _history(issue.minimal_canvas, ClientView("TIMEOUT")))
    assert [k for k, _ in known] == [issue.id]
    on_db = History("r", workload_to_json(w), "database", ClientView("TIMEOUT"), (), 5.0)
    assert match_known([hang], p, on_db) == ([], [hang])
    task_body = {"group": [{"chord": {"header": [{"task": "fail"}], "body": {"task": "tag"}}}]}
    known, _ = match_known([hang], predict(parse_workload(task_body)),
                           _history(task_body, ClientView("TIMEOUT")))
    assert not known


def test_a_worker_exit_matches_only_with_celerys_reconnect_error() -> None:
    from dataclasses import replace

    from tests.harness.test_checks import _correct_events, _history, _prediction

    h = _history(_correct_events())
    crash = Violation("worker-exit", "worker w0@127.0.0.1 exited by itself: Unrecoverable error: "
                                     "AttributeError(\"'NoneType' object has no attribute 'hostname'\")")
    other = Violation("worker-exit", "worker w0@127.0.0.1 exited by itself: Unrecoverable error: "
                                     "MemoryError()")
    known, rest = match_known([crash, other], _prediction(), replace(h, worker_exits=(crash.message,)))
    assert [k for k, _ in known] == ["worker-exit-on-reconnect"] and rest == [other]


def test_a_child_killed_after_its_task_succeeded_matches_only_that_hang() -> None:
    from dataclasses import replace

    from tests.harness.test_checks import _correct_events, _history, _prediction

    events = _correct_events()[:4]  # both header tasks ended; the body never ran
    record = {"kind": "kill_child", "applied": 0.1, "resolved": ["w0:1"]}
    hang = Violation("liveness", "the result did not resolve within 16 s")
    h = replace(_history(events), nemesis=(record,), faults={"faults": [
        {"kind": "kill_child", "target": "w0", "at": 0.0, "duration": 0.05}]})
    assert [k for k, _ in match_known([hang], _prediction(), h)[0]] == ["worker-lost-after-success"]
    mid_task = replace(h, events=tuple(events[:1]))  # pid 1 killed while running: not this issue
    assert match_known([hang], _prediction(), mid_task)[0] == []
    assert match_known([hang], _prediction(), replace(h, backend="database"))[0] == []


def test_database_retry_state_matches_the_int_retry_value_typeerror_too() -> None:
    """The seed retry_in_header.json retries with the int 5: dict(5) is a TypeError, which
    exception_to_python re-raises with its own message (a sequence gives ValueError)."""
    from dataclasses import replace

    workload = parse_workload({"chord": {"header": [{"task": "retry", "args": [2, 5], "immutable": True},
                                                    {"task": "add", "args": [1, 1]}],
                                         "body": {"task": "tsum"}}})
    message = ("If the stored exception isn't an instance of BaseException, it must be a dictionary."
               "\nInstead got: 5")
    h = History(run="r", workload=workload_to_json(workload), backend="database",
                client=ClientView("FAILURE", error="TypeError", message=message), events=(), timeout=20)
    v = Violation("outcome", f"get() raised TypeError ({message}); expected the value 7")
    p = predict(workload)
    assert [k for k, _ in match_known([v], p, h)[0]] == ["database-retry-state"]
    assert match_known([v], p, replace(h, backend="redis"))[0] == []
    other = replace(h, client=ClientView("FAILURE", error="TypeError", message="unsupported operand"))
    assert match_known([v], p, other)[0] == []


def test_a_message_lost_off_the_queue_explains_the_hang_and_what_never_ran_after_it() -> None:
    from dataclasses import replace

    from chord_chaos.harness.ledger import Event
    from tests.harness.test_checks import _correct_events, _history, _prediction

    def record(kind: str, node: str, task_id: str) -> Event:
        return Event.from_json({"ev": kind, "run": "r", "node": node, "task_id": task_id,
                                "attempt": 0, "hostname": "client", "pid": 1, "t": 0.0, "mono": 0})

    # one header task ran; the other's message vanished
    events = [e for e in _correct_events() if e.node == "$.chord.header[0]"]
    deliveries = (record("publish", "$.chord.header[0]", "h0"), record("receive", "$.chord.header[0]", "h0"),
                  record("publish", "$.chord.header[1]", "h1"))
    kill = {"faults": [{"kind": "kill_worker", "target": "w0", "at": 0.0, "duration": 0.05}]}
    h = replace(_history(events), faults=kill, deliveries=deliveries,
                broker={"messages": [], "states": {"h1": "PENDING"}})
    hang = Violation("liveness", "the result did not resolve within 16 s")
    header = Violation("executions", "$.chord.header[1] ran 0 time(s); expected 1",
                       "$.chord.header[1]", expected=1, observed=0)
    body = Violation("executions", "$.chord.body ran 0 time(s); expected 1", "$.chord.body",
                     expected=1, observed=0)
    twice = Violation("executions", "$.chord.header[0] ran 2 time(s); expected 1",
                      "$.chord.header[0]", expected=1, observed=2)
    known, rest = match_known([hang, header, body, twice], _prediction(), h)
    assert [k for k, _ in known] == ["redis-message-lost-off-queue"] * 3 and rest == [twice]
    still_queued = replace(h, broker={"messages": ["h1"], "states": {"h1": "PENDING"}})
    assert match_known([hang], _prediction(), still_queued)[0] == []
    unread = replace(h, broker={"error": "ConnectionError"})
    assert match_known([hang], _prediction(), unread)[0] == []
    flushed = replace(h, faults={"faults": [{"kind": "restart_redis", "target": "broker", "at": 0.0,
                                             "duration": 0.1}]})
    assert match_known([hang], _prediction(), flushed)[0] == []
