"""The known-issues register: real Celery deviations from the model, never hidden.

Each entry names the Celery behaviour, where it is reported (a Celery issue link, or a note
that none was found), the Celery versions it was seen with, a minimal canvas, and a
predicate that recognises its violations. Matched violations are reported as known issues,
so a CI gate stays green on them while every report still shows them. KNOWN_ISSUES.md is the
human-readable copy of this register.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chord_chaos.check.events import executions_by_node
from chord_chaos.check.exact import Violation
from chord_chaos.check.history import History
from chord_chaos.check.lost_messages import lost_messages
from chord_chaos.models.canvas import (
    Canvas,
    Chain,
    Chord,
    Group,
    Task,
    children,
    parse_workload,
    task_ids,
    uses_op,
    walk,
)
from chord_chaos.models.faults import node_role
from chord_chaos.models.semantics import (
    Prediction,
    as_group,
    chain_steps,
    prepared_steps,
    result_is_group,
)

Matcher = Callable[[Violation, Prediction, History], bool]


@dataclass(frozen=True)
class KnownIssue:
    id: str
    title: str
    link: str
    celery_versions: str
    minimal_canvas: dict[str, Any]
    matches: Matcher
    backend: str = "redis"  # where the minimal canvas reproduces it
    delivery: str | None = None  # a chaos cluster with this delivery configuration, with ``plan``
    plan: dict[str, Any] | None = None
    flaky: bool = False  # reproduces only at times: a check that misses it is not news


def _canonical(value: Any) -> Any:
    """A value with every list sorted: equal canonical forms differ only in order."""
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _canvas(history: History) -> Canvas:
    return parse_workload(history.workload).canvas


def _ends_in_group(canvas: Canvas) -> bool:
    """Whether the result of this canvas is a GroupResult (a group, or a chain/chord ending in one).

    A one-member group as a chain step is unrolled into its task (``maybe_unroll_group``); as a
    chord body it is not, and stays a GroupResult whose member the failure never reaches
    (``Backend.mark_as_failure`` descends into a chord's body but marks only signatures with an
    id of their own)."""
    if isinstance(canvas, Group):
        return len(canvas.items) != 1 or _ends_in_group(canvas.items[0])
    if isinstance(canvas, Chain):
        return bool(canvas.items) and _ends_in_group(canvas.items[-1])
    if isinstance(canvas, Chord):
        return isinstance(canvas.body, Group) or _ends_in_group(canvas.body)
    return False


def _never_run_group_ending_chain(canvas: Canvas, prediction: Prediction) -> bool:
    """Some chain's last step ends in a group, and none of that step's tasks is to run."""
    runs = prediction.executions
    for path, node in walk(canvas):
        if not isinstance(node, Chain):
            continue
        last_path, last = chain_steps(path, node)[-1]
        if _ends_in_group(last):
            tasks = [f"{last_path}{p[1:]}" for p in task_ids(last)]
            if all(runs.get(t, 0) == 0 for t in tasks):
                return True
    return False


def _hang_after_upstream_failure(v: Violation, p: Prediction, h: History) -> bool:
    return (v.check == "liveness" and p.status == "FAILURE"
            and _never_run_group_ending_chain(_canvas(h), p))


def _has_nested_group(canvas: Canvas) -> bool:
    """A multi-member group (or a chain that folds to one) directly in a group or chord header."""
    for path, node in walk(canvas):
        if isinstance(node, Group):
            members = list(children(node, path))
        elif isinstance(node, Chord):
            members = [(f"{path}.chord.header[{i}]", m) for i, m in enumerate(node.header)]
        else:
            continue
        for p, m in members:
            g = as_group(p, m)
            if g is not None and len(g[1].items) > 1:
                return True
    return False


def _nested_group_reordered(v: Violation, p: Prediction, h: History) -> bool:
    return (v.check in ("outcome", "inputs", "results") and v.expected is not None
            and _canonical(v.observed) == _canonical(v.expected)
            and _has_nested_group(_canvas(h)))


def _retry_state_overwrites_success(v: Violation, p: Prediction, h: History) -> bool:
    """get() hangs although the ledger shows every predicted execution, and a task retried."""
    if v.check != "liveness" or not uses_op(_canvas(h), "retry"):
        return False
    return executions_by_node(h.events) == {n: k for n, k in p.executions.items() if k}


def _continues_after_group_body(canvas: Canvas) -> bool:
    """A chain in which a step whose result is a group (a chord with a group body) is
    followed by a step that is not a single task."""
    for path, node in walk(canvas):
        if not isinstance(node, Chain):
            continue
        steps = chain_steps(path, node)
        for (p, step), (_, after) in itertools.pairwise(steps):
            if isinstance(step, Chord) and result_is_group(p, step) and not isinstance(after, Task):
                return True
    return False


def _group_body_continuation_duplicated(v: Violation, p: Prediction, h: History) -> bool:
    return v.check != "liveness" and _continues_after_group_body(_canvas(h))


# exception_to_python's dict() on a stored retry value: a sequence gives ValueError, anything
# else the TypeError it re-raises with its own message
_RETRY_VALUE_AS_EXCEPTION = ("dictionary update sequence",
                             "If the stored exception isn't an instance of BaseException")


def _database_retry_state_unreadable(v: Violation, p: Prediction, h: History) -> bool:
    """The ValueError reaches get() directly, or kills chord_unlock (which reads the retrying
    header task's state), so the body and its errbacks never run and the result never resolves."""
    if h.backend != "database" or not uses_op(_canvas(h), "retry"):
        return False
    if v.check == "outcome":  # raised as is, or wrapped by chord_unlock in ChordError
        return any(m in h.client.message for m in _RETRY_VALUE_AS_EXCEPTION)
    if v.check == "executions":
        return " ran 0 time(s)" in v.message
    return v.check == "liveness"


_FIRST_BODY_TASK_ERRBACK = re.compile(r"^(?P<chord>.*\.chain\[\d+\])\.chord\.body"
                                      r"(\.chain\[0\])+\.link_error$")


def _chain_body_errback_in_chain(v: Violation, p: Prediction, h: History) -> bool:
    """An errback of a chord body chain's first task ran on ChordError; the chord is a chain step."""
    return (v.check == "executions" and v.node is not None
            and _FIRST_BODY_TASK_ERRBACK.match(v.node) is not None
            and v.observed == 1 and v.expected == 0)


def _header_chord_failure_lost(v: Violation, p: Prediction, h: History) -> bool:
    """Redis: a chord inside another chord's header failed in its own header, and the outer
    chord was never told: its ChordError errbacks do not run and its result never resolves."""
    if h.backend != "redis" or not any(".chord.header[" in body for body in p.chord_errors):
        return False
    if v.check == "liveness":
        return True
    return (v.check == "executions" and (v.node or "").endswith("link_error")
            and isinstance(v.observed, int) and isinstance(v.expected, int)
            and v.observed < v.expected)


def _chord_body_chord_error_lost(v: Violation, p: Prediction, h: History) -> bool:
    """Redis: a chord whose body is a chord failed in its header; a GroupResult awaiting it
    never resolves, because the ChordError is stored under the body chord's own id."""
    if h.backend != "redis" or v.check != "liveness":
        return False
    nodes = dict(walk(_canvas(h)))
    return any(isinstance(nodes.get(body), Chord) for body in p.chord_errors)


def _header_chord_body_chord_stalls(v: Violation, p: Prediction, h: History) -> bool:
    """Database: a chord inside another chord (its header or its body), whose body is itself a
    chord, failed in its own header; what awaits it (the outer chord_unlock, or get() on the
    innermost body, whose parents no longer lead to the failure) waits on the body chord's
    body, which is never marked."""
    if h.backend != "database" or v.check != "liveness":
        return False
    nodes = dict(walk(_canvas(h)))
    return any(isinstance(nodes.get(body), Chord)
               and node_role(body.removesuffix(".chord.body")) in ("header", "body")
               for body in p.chord_errors)


def _stalled_chords(canvas: Canvas) -> list[str]:
    """Paths of chords with a header member that is a chain ending in a group holding a chord."""
    found = []
    for path, node in walk(canvas):
        if not isinstance(node, Chord):
            continue
        for i, member in enumerate(node.header):
            mpath = f"{path}.chord.header[{i}]"
            if not isinstance(member, Chain) or len(chain_steps(mpath, member)) < 2:
                continue
            last_path, last = prepared_steps(mpath, member)[-1]
            grouped = as_group(last_path, last)
            if grouped is not None and any(isinstance(m, Chord) for _, m in children(grouped[1], grouped[0])):
                found.append(path)
                break
    return found


def _downstream(p: Prediction, roots: set[str]) -> set[str]:
    """Every node the prediction orders after one of ``roots``, and the roots."""
    after: dict[str, set[str]] = {}
    for before, later in p.happens_before:
        after.setdefault(before, set()).add(later)
    seen, todo = set(roots), list(roots)
    while todo:
        for nxt in after.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _header_chain_group_chord_stalls(v: Violation, p: Prediction, h: History) -> bool:
    """Redis: the outer chord's header finished as predicted (its every task ran as often as
    predicted) and its body never started; what is explained is the hang, and "ran 0 times" of
    the body's nodes and of what the model orders after them."""
    if h.backend != "redis" or v.check not in ("liveness", "executions"):
        return False
    ran = executions_by_node(h.events)
    for chord in _stalled_chords(_canvas(h)):
        header = {n: k for n, k in p.executions.items() if n.startswith(f"{chord}.chord.header[")}
        body = {n for n in p.executions if n.startswith(f"{chord}.chord.body")}
        if any(ran.get(n, 0) != k for n, k in header.items()) or any(ran.get(n) for n in body):
            continue  # the header did not finish as predicted, or the body started: not this bug
        if v.check == "liveness":
            return True
        if v.observed == 0 and v.node in _downstream(p, body):
            return True
    return False


def _worker_exit_on_reconnect(v: Violation, p: Prediction, h: History) -> bool:
    return v.check == "worker-exit" and "object has no attribute 'hostname'" in v.message


def _killed_after_success(v: Violation, p: Prediction, h: History) -> bool:
    """A pool child killed right after a task it ran succeeded (its last ledger event is that
    task's end), on Redis, and the result never resolved."""
    if v.check != "liveness" or h.backend != "redis":
        return False
    killed = {int(str(r).rpartition(":")[2]) for rec in h.nemesis if rec.get("kind") == "kill_child"
              and rec.get("applied") is not None for r in rec.get("resolved") or []}
    for pid in killed:
        last = [e for e in h.events if e.pid == pid][-1:]
        if last and last[0].kind == "end" and "ok" in (last[0].outcome or {}):
            return True
    return False


def _message_lost_off_queue(v: Violation, p: Prediction, h: History) -> bool:
    """A message was published, never started, and is nowhere in the broker with no state
    stored; what never ran is that message's task or something never published after it."""
    if any(f.get("kind") in ("kill_redis", "restart_redis") and f.get("target") == "broker"
           for f in h.faults.get("faults", ())):
        return False  # the broker's own data loss, not the transport's
    lost = lost_messages(h.deliveries, h.broker)
    if not lost:
        return False
    if v.check == "liveness":
        return True
    published = {e.node for e in h.deliveries if e.kind == "publish"}
    return (v.check == "executions" and v.observed == 0
            and (v.node in {e.node for e in lost} or v.node not in published))


REGISTER: tuple[KnownIssue, ...] = (
    KnownIssue(
        id="celery-4004",
        title="A chain that ends in a group never resolves when an earlier step fails: "
              "get() on the GroupResult waits for members that are never sent",
        link="https://github.com/celery/celery/issues/4004 (closed, still reproduces)",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "fail", "immutable": True},
                                  {"group": [{"task": "tag", "args": ["a"]},
                                             {"task": "tag", "args": ["b"]}]}]},
        matches=_hang_after_upstream_failure,
    ),
    KnownIssue(
        id="nested-group-order",
        title="A group nested in a chord header, or in a group applied as a chain step or "
              "chord body, yields its members' results in reverse order",
        link="no Celery issue found (searched the tracker for nested group result order); "
             "minimal reproduction in KNOWN_ISSUES.md",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "tag", "args": ["x"]},
                                  {"group": [{"group": [{"task": "tag", "args": ["a"],
                                                         "immutable": True},
                                                        {"task": "tag", "args": ["b"],
                                                         "immutable": True}]},
                                             {"task": "tag", "args": ["c"],
                                              "immutable": True}]}]},
        matches=_nested_group_reordered,
    ),
    KnownIssue(
        id="retry-state-race",
        title="A task that retries with countdown=0 can succeed on its next attempt before the "
              "previous attempt's RETRY state is stored; RETRY then overwrites SUCCESS and get() "
              "never resolves (about 1 run in 30 here)",
        link="no Celery issue found (searched the tracker for RETRY overwriting SUCCESS); "
             "minimal reproduction in KNOWN_ISSUES.md",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "tag", "args": ["a"], "immutable": True},
                                  {"task": "retry", "args": [1, "v"], "immutable": True}]},
        matches=_retry_state_overwrites_success, flaky=True,
    ),
    KnownIssue(
        id="group-body-continuation",
        title="In a chain, a step after a chord whose body is a group runs once per member of "
              "that group (each with part of the input) when the step is a chord or group",
        link="no exact match in the tracker; related: https://github.com/celery/celery/issues/5947 "
             "(closed: duplicated bodies in chords of chains with groups)",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [
            {"chord": {"header": [], "body": {"group": [
                {"task": "tag", "args": ["b"], "immutable": True},
                {"task": "tag", "args": ["c"], "immutable": True}]}}},
            {"chord": {"header": [], "body": {"task": "tag", "args": ["n"]}}}]},
        matches=_group_body_continuation_duplicated,
    ),
    KnownIssue(
        id="chain-body-errback-in-chain",
        title="When a chord whose body is a chain is itself a chain step and its header fails, "
              "the errback of the body chain's first task runs with ChordError; the same chord "
              "at top level does not run it",
        link="no Celery issue found (searched the tracker for chord body chain errbacks)",
        celery_versions="5.7.0",
        minimal_canvas={"chain": [{"task": "tag", "args": ["x"]}, {"chord": {
            "header": [{"task": "fail"}],
            "body": {"chain": [{"task": "tag", "args": ["a"], "link_error": {"task": "log_error"}},
                               {"task": "tag", "args": ["b"]}]}}}]},
        matches=_chain_body_errback_in_chain,
    ),
    KnownIssue(
        id="redis-header-chord-error",
        title="Redis backend: when a chord inside a chord's header (directly or as a chain "
              "step) fails in its own header, the inner body's ChordError is stored without its "
              "request, so the outer chord is never told: the outer body never gets ChordError, "
              "its errbacks do not run, and the outer result may never resolve (the database "
              "backend's chord_unlock does see the failure)",
        link="https://github.com/celery/celery/pull/9580 (fix for #9107; its integration test "
             "asserts a single errback call)",
        celery_versions="5.7.0",
        minimal_canvas={"chord": {"header": [{"chord": {"header": [{"task": "fail"}],
                                                        "body": {"task": "tag", "args": ["b"]}}}],
                                  "body": {"task": "tag", "args": ["z"]}},
                        "link_error": {"task": "log_error"}},
        matches=_header_chord_failure_lost,
    ),
    KnownIssue(
        id="redis-chord-body-chord-error",
        title="Redis backend: when a chord whose body is itself a chord fails in its header, "
              "a group awaiting it never resolves (a top-level get() still raises, through the "
              "header); the database backend resolves it",
        link="no Celery issue found (searched the tracker for chord body chord error)",
        celery_versions="5.7.0",
        minimal_canvas={"group": [{"chord": {
            "header": [{"task": "fail"}],
            "body": {"chord": {"header": [], "body": {"task": "tag", "args": ["b"]}}}}}]},
        matches=_chord_body_chord_error_lost,
    ),
    KnownIssue(
        id="database-header-chord-body-chord",
        title="Database backend: when a chord inside another chord (in its header or its body) "
              "has a chord as its body and fails in its own header, the result never resolves: the "
              "ChordError is stored under the body chord's own id, while the outer chord_unlock, or "
              "get() on the innermost body, waits on that body's body, which stays PENDING (found "
              "by swarm-drawn canvases)",
        link="no Celery issue for this shape found; related: https://github.com/celery/celery/issues/"
             "9674 and its fix https://github.com/celery/celery/pull/10323 (a failure now descends "
             "into a chained chord step's body, but not into a chord body that is a chord)",
        celery_versions="5.7.0",
        minimal_canvas={"chord": {"header": [{"chord": {
            "header": [{"task": "fail"}],
            "body": {"chord": {"header": [], "body": {"task": "tag", "args": ["b"]}}}}}],
            "body": {"task": "tag", "args": ["z"]}}},
        matches=_header_chord_body_chord_stalls,
        backend="database",
    ),
    KnownIssue(
        id="redis-header-chain-group-chord",
        title="Redis backend: a chord whose header holds a chain ending in a group that contains "
              "a chord never runs its body: every header task finishes, the outer chord is never "
              "counted complete, and its result never resolves (the database backend's "
              "chord_unlock completes it)",
        link="no Celery issue found (searched the tracker for nested chords in a chain's group in a "
             "chord header); related: https://github.com/celery/celery/issues/2922 (closed: chords "
             "within a chord built with group | task never call the outer body)",
        celery_versions="5.7.0",
        minimal_canvas={"chord": {"header": [{"chain": [
            {"task": "tag", "args": ["a"]},
            {"group": [{"task": "tag", "args": ["b"]},
                       {"chord": {"header": [], "body": {"task": "tag", "args": ["c"]}}}]}]}],
            "body": {"task": "tag", "args": ["z"]}}},
        matches=_header_chain_group_chord_stalls,
    ),
    KnownIssue(
        id="database-retry-state",
        title="Database backend: while a task is in the RETRY state, reading its result raises "
              "ValueError or TypeError (exception_to_python calls dict() on the stored value: a "
              "sequence fails with ValueError, which it does not catch; an int with the TypeError "
              "it re-raises): get() fails instead of waiting, and chord_unlock polling a header "
              "that retries crashes, so the body and the chord's errbacks never run",
        link="no Celery issue found (searched the tracker for the ValueError message)",
        celery_versions="5.7.0",
        minimal_canvas={"task": "retry", "args": [2, "v"], "immutable": True},
        matches=_database_retry_state_unreadable, backend="database", flaky=True,
    ),
    KnownIssue(
        id="worker-exit-on-reconnect",
        title="A worker that loses its broker connection while it holds unacknowledged messages "
              "(acks_late tasks running) exits with \"Unrecoverable error: AttributeError('NoneType' "
              "object has no attribute 'hostname')\": on_connection_error_after_connected closes the "
              "connection, and closing the channel restores the unacked messages through a "
              "transport whose client is already gone; ignore_errors catches only connection errors",
        link="no Celery issue found (searched the tracker for the error message); related: "
             "https://github.com/celery/celery/issues/10205 (closed: worker stops consuming after "
             "a broker connection reset)",
        celery_versions="5.7.0 (kombu 5.7.0)",
        minimal_canvas={"chord": {"header": [{"task": "sleep", "args": [1.0, "a"], "immutable": True},
                                             {"task": "sleep", "args": [1.0, "b"], "immutable": True}],
                                  "body": {"task": "tag", "args": ["z"]}}},
        matches=_worker_exit_on_reconnect, backend="database", delivery="acks-late",
        plan={"faults": [{"kind": "restart_redis", "target": "broker", "at": 0.3, "duration": 0.1}]},
        flaky=True,
    ),
    KnownIssue(
        id="worker-lost-after-success",
        title="Redis backend: a pool process killed after storing a chord header task's SUCCESS but "
              "before on_chord_part_return counted it (mark_as_done stores, then counts) leaves the "
              "chord one short for ever: Request.on_failure sees SUCCESS stored and, to avoid "
              "'counting a chord header twice', acknowledges without counting, so the body never "
              "runs and get() never resolves",
        link="no Celery issue found for this window; related: "
             "https://github.com/celery/celery/issues/4207 (open: chord body sometimes never called "
             "on Redis)",
        celery_versions="5.7.0",
        minimal_canvas={"chord": {"header": [{"task": "mul", "args": [i, 2]} for i in range(1, 6)],
                                  "body": {"task": "tsum"}}},
        matches=_killed_after_success, delivery="acks-late",
        plan={"faults": [{"kind": "kill_child", "target": "@anchor", "at": 0.0, "duration": 0.05,
                          "anchor": {"event": "end", "role": "header", "count": 1}}]},
        flaky=True,
    ),
    KnownIssue(
        id="redis-message-lost-off-queue",
        title="Redis broker: a message a worker has popped off the queue (BRPOP) but not yet "
              "written to the unacknowledged hash is lost when that worker dies or its broker "
              "connection drops in between, acks_late or not: no visibility timeout can restore "
              "it, so the chord never completes. A worker frozen with its BRPOP outstanding "
              "(a hung process later killed by its supervisor) loses one message every time",
        link="https://github.com/celery/kombu/issues/305 (open: tasks lost in Redis); related: "
             "https://github.com/celery/celery/issues/7950 (open: the same window at warm shutdown)",
        celery_versions="5.7.0 (kombu 5.7.0)",
        minimal_canvas={"chord": {"header": [{"task": "mul", "args": [i, 2]} for i in range(1, 6)],
                                  "body": {"task": "tsum"}}},
        matches=_message_lost_off_queue, delivery="acks-late",
        plan={"faults": [{"kind": "kill_worker", "target": "w0", "at": 0.0, "duration": 0.05}]},
        flaky=True,
    ),
)


def match_known(
    violations: list[Violation], prediction: Prediction, history: History
) -> tuple[list[tuple[str, Violation]], list[Violation]]:
    """Split violations into (known issue id, violation) pairs and unexplained ones."""
    known: list[tuple[str, Violation]] = []
    unexplained: list[Violation] = []
    for v in violations:
        issue = next((k for k in REGISTER if k.matches(v, prediction, history)), None)
        if issue is None:
            unexplained.append(v)
        else:
            known.append((issue.id, v))
    return known, unexplained
