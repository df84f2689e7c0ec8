"""The known-issues register: real Celery deviations from the model, never hidden.

Each entry names the Celery behaviour, where it is reported (a Celery issue link, or a note
that none was found), the Celery releases its minimal canvas was verified on, and an
explainer that recognises the bug by its mechanism, from the evidence in the history (ledger
times, nemesis records, stored states, the model with that deviation applied), at the nodes
where it shows. It explains only those violations: anything else in the same run stays a
violation, and so does the same deviation on a Celery release the entry was not verified on.
Explained violations are reported as known issues, so a CI gate stays green on them while
every report still shows them; ``--strict`` turns the register off. KNOWN_ISSUES.md is the
human-readable copy of this register.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from chord_chaos.check.events import Event, executions_by_node
from chord_chaos.check.evidence import (
    NODE_CHECKS,
    awaited,
    canvas_of,
    downstream,
    final_ok,
    inside,
    real_kills,
    rerooted,
    retried,
    reversal_explains,
    seconds_into_run,
    still_found,
)
from chord_chaos.check.exact import Violation, check_executions
from chord_chaos.check.history import History
from chord_chaos.check.lost_messages import lost_messages
from chord_chaos.check.verified_releases import VERIFIED_RELEASES
from chord_chaos.models.canvas import (
    Canvas,
    CanvasError,
    Chain,
    Chord,
    Group,
    Task,
    Workload,
    children,
    task_ids,
    walk,
)
from chord_chaos.models.faults import node_role
from chord_chaos.models.semantics import (
    Prediction,
    as_group,
    chain_steps,
    predict,
    prepared_steps,
    result_is_group,
)

Matcher = Callable[[Violation, Prediction, History], bool]
Explainer = Callable[[list[Violation], Prediction, History], list[bool]]


@dataclass(frozen=True)
class KnownIssue:
    id: str
    title: str
    link: str
    minimal_canvas: dict[str, Any]
    explains: Explainer  # which of a run's violations this mechanism explains
    also: str = ""  # other versions it depends on (kombu)
    backend: str = "redis"  # where the minimal canvas reproduces it
    delivery: str | None = None  # a chaos cluster with this delivery configuration, with ``plan``
    plan: dict[str, Any] | None = None
    flaky: bool = False  # reproduces only at times: a check that misses it is not news
    brokers: tuple[str, ...] = ("redis", "rabbitmq")  # a transport's own bug: only its broker

    @property
    def verified_on(self) -> tuple[str, ...]:
        """The Celery releases where the minimal case reproduced (``verified_releases.py``)."""
        return VERIFIED_RELEASES.get(self.id, ())

    @property
    def celery_versions(self) -> str:
        return ", ".join(self.verified_on) + (f" ({self.also})" if self.also else "")

    def verified(self, celery: str) -> bool:
        return celery in self.verified_on


def each(matches: Matcher) -> Explainer:
    """An explainer that judges every violation on its own."""
    def explains(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
        return [matches(v, p, h) for v in vs]
    return explains


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


def _failed(events: tuple[Event, ...], nodes: list[str]) -> bool:
    return any(e.kind == "end" and e.node in nodes and "error" in (e.outcome or {}) for e in events)


def _group_ending_chain_after_failure(p: Prediction, h: History) -> bool:
    """celery#4004's ``a | fail | group``: a chain whose result get() awaits has a step that
    failed (in the ledger), and after it a last step whose result is a GroupResult and none of
    whose tasks ran, as predicted; nothing else went missing."""
    canvas = canvas_of(h)
    return not check_executions(p, h) and _hangs_on_a_group(p, h, canvas, awaited(canvas))


def _hangs_on_a_group(p: Prediction, h: History, canvas: Canvas, waited: set[str]) -> bool:
    """Whether one of the ``waited`` chains failed at a step (in the ledger) before a last step
    whose result is a GroupResult and none of whose tasks ran, as predicted."""
    for path, node in walk(canvas):
        if not isinstance(node, Chain) or path not in waited:
            continue
        steps = chain_steps(path, node)
        last_path, last = steps[-1]
        tasks = [f"{last_path}{t[1:]}" for t in task_ids(last)]
        if not _ends_in_group(last) or any(p.executions.get(t, 0) for t in tasks):
            continue
        if any(_failed(h.events, [f"{sp}{t[1:]}" for t in task_ids(step)]) for sp, step in steps[:-1]):
            return True
    return False


def _hang_after_upstream_failure(v: Violation, p: Prediction, h: History) -> bool:
    return v.check == "liveness" and p.status == "FAILURE" and _group_ending_chain_after_failure(p, h)


def _chord_joins_a_hung_group(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """celery#4004 inside a chord header: one of the header's results is the GroupResult of a
    chain that failed before its last step, a group, was sent, and the chord never counts that
    part (Redis) or never sees it ready (chord_unlock), so the chord never completes: its body,
    callbacks and errbacks never run, nor anything after them. Explains their "ran 0 times",
    and the hang, when every missing execution is one of them (get() may still raise the
    header's failure: it follows parents)."""
    canvas = canvas_of(h)
    stuck = set()
    for path, node in walk(canvas):
        if isinstance(node, Chord):
            header = [(f"{path}.chord.header[{i}]", m) for i, m in enumerate(node.header)]
            if _hangs_on_a_group(p, h, canvas, set().union(*(awaited(m, hp) for hp, m in header))):
                stuck |= {n for n in p.executions if any(inside(n, f"{path}{part}") for part in (
                    ".chord.body", ".link", ".link_error"))}
    stalled = downstream(p, stuck, canvas)
    missing = check_executions(p, h)
    only_stalled = bool(stuck) and all(m.observed == 0 and m.node in stalled for m in missing)
    return [only_stalled and (v.check == "liveness" or (v.check == "executions" and v.observed == 0
                                                       and v.node in stalled)) for v in vs]


def _nested_group_reordered(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """Only what the prediction, with the result order of some nested groups reversed at their
    own nodes, predicts exactly."""
    return reversal_explains(vs, h)


def _raced(h: History) -> set[str]:
    """Retried nodes whose last attempt returned a value (the ledger) but whose stored state at
    the end is RETRY: the previous attempt's RETRY was stored over the SUCCESS."""
    out = set()
    for node in retried(h.events):
        ok = final_ok(h.events, node)
        if ok is not None and ok.task_id and h.states.get(ok.task_id) == "RETRY":
            out.add(node)
    return out


def _retry_state_overwrites_success(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """What waits on a raced task's state waits for ever: get() on it, or the join of a chord
    header holding it, so what the model orders after it never runs. Explains "ran 0 times" of
    those nodes, and the hang when every missing execution is one of them or the client awaits
    the raced task itself."""
    raced = _raced(h)
    if not raced:
        return [False] * len(vs)
    stalled = downstream(p, raced, canvas_of(h)) - raced
    missing = check_executions(p, h)
    only_stalled = all(m.observed == 0 and m.node in stalled for m in missing)
    hang = only_stalled and (bool(missing) or bool(raced & awaited(canvas_of(h))))
    return [(v.check == "liveness" and hang)
            or (v.check == "executions" and v.observed == 0 and v.node in stalled) for v in vs]


def _continuation_copies(canvas: Canvas) -> dict[str, int]:
    """Steps after a chord whose body is a group of k members, when the step after it is not a
    single task: each such later step's path, and k (how many times Celery runs it)."""
    found: dict[str, int] = {}
    for path, node in walk(canvas):
        if not isinstance(node, Chain):
            continue
        steps = chain_steps(path, node)
        for i, ((p, step), (_, after)) in enumerate(itertools.pairwise(steps)):
            if isinstance(step, Chord) and result_is_group(p, step) and not isinstance(after, Task):
                grouped = as_group(f"{p}.chord.body", step.body)
                k = len(grouped[1].items) if grouped else 1
                for later_path, _ in steps[i + 1:]:
                    found.setdefault(later_path, k)
    return found


def _group_body_continuation_duplicated(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """A node of a step after a group-bodied chord ran once per member of that group; and, in a
    run where that happened, the order of those nodes (each copy runs on its own, so the first
    start of one and the last end of another say nothing; the model orders no node that runs
    more than once either)."""
    copies = _continuation_copies(canvas_of(h))
    ran = executions_by_node(h.events)
    copied = {step for step, k in copies.items()
              if any(inside(n, step) and k > 1 and ran.get(n, 0) == p.executions[n] * k > 0
                     for n in p.executions)}
    out = []
    for v in vs:
        node = v.node or ""
        if v.check == "executions" and isinstance(v.expected, int):
            out.append(any(inside(node, step) and v.observed == v.expected * k
                           for step, k in copies.items()))
        else:
            out.append(v.check == "order" and any(inside(node, step) for step in copied))
    return out


# exception_to_python's dict() on a stored retry value: a sequence gives ValueError, anything
# else the TypeError it re-raises with its own message
_RETRY_VALUE_AS_EXCEPTION = ("dictionary update sequence",
                             "If the stored exception isn't an instance of BaseException")


def _unlock_crashed_after(p: Prediction, h: History) -> set[str]:
    """Database: nodes that cannot run once chord_unlock crashed reading a retried header task's
    RETRY state: what the model orders after a retried node, and the body, callbacks and
    errbacks of every chord with a retried node in its header."""
    again = retried(h.events)
    lost = downstream(p, again, canvas_of(h))
    for path, node in walk(canvas_of(h)):
        if isinstance(node, Chord) and any(inside(r, f"{path}.chord.header") for r in again):
            lost |= {n for n in p.executions if inside(n, f"{path}.chord.body")
                     or n in (f"{path}.link", f"{path}.link_error")}
    return downstream(p, lost, canvas_of(h)) - again


def _database_retry_state_unreadable(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """The ValueError reaches get() directly, or kills chord_unlock (which reads the retrying
    header task's state), so what waits on that chord never runs and the result never resolves."""
    if h.backend != "database" or not retried(h.events):
        return [False] * len(vs)
    lost = _unlock_crashed_after(p, h)
    out = []
    for v in vs:
        if v.check == "outcome":  # raised as is, or wrapped by chord_unlock in ChordError
            out.append(any(m in h.client.message for m in _RETRY_VALUE_AS_EXCEPTION))
        elif v.check == "executions":
            out.append(v.observed == 0 and v.node in lost)
        else:
            out.append(False)
    missing = check_executions(p, h)
    if all(e.observed == 0 and e.node in lost for e in missing):
        waited = awaited(canvas_of(h))
        out = [o or (v.check == "liveness" and (bool(missing) or bool(retried(h.events) & waited)))
               for o, v in zip(out, vs, strict=True)]
    return out


# the body chain's first task, through one-member groups it is unrolled from (found by fuzz)
_FIRST_BODY_TASK_ERRBACK = re.compile(r"^(?P<chord>.*\.chain\[\d+\])\.chord\.body"
                                      r"(\.chain\[0\](\.group\[0\])?)+\.link_error$")


def _chain_body_errback_in_chain(v: Violation, p: Prediction, h: History) -> bool:
    """An errback of a chord body chain's first task ran on ChordError; the chord is a chain step."""
    return (v.check == "executions" and v.node is not None
            and _FIRST_BODY_TASK_ERRBACK.match(v.node) is not None
            and v.observed == 1 and v.expected == 0)


def _untold_by_header_chord(p: Prediction) -> list[tuple[str, str]]:
    """(inner, outer): a chord failing in its own header inside an outer chord's header."""
    out = []
    for body in p.chord_errors:
        inner = body.removesuffix(".chord.body")
        cut = inner.rfind(".chord.header[")
        if cut >= 0:
            out.append((inner, inner[:cut]))
    return out


def _header_chord_failure_lost(v: Violation, p: Prediction, h: History) -> bool:
    """Redis: a chord inside another chord's header failed in its own header, and the outer
    chord was never told: the errbacks the outer chord's ChordError should have run did not
    run, and its result (or what awaits it) never resolves."""
    pairs = _untold_by_header_chord(p)
    if h.backend != "redis" or not pairs:
        return False
    if v.check == "liveness":
        return not [e for e in check_executions(p, h) if not _told_errback(e, pairs)]
    return v.check == "executions" and _told_errback(v, pairs)


def _told_errback(v: Violation, pairs: list[tuple[str, str]]) -> bool:
    """An errback that ran fewer times than predicted, owned by the outer chord or its body."""
    node = v.node or ""
    if not (node.endswith(".link_error") and isinstance(v.observed, int)
            and isinstance(v.expected, int) and v.observed < v.expected):
        return False
    owner = node.removesuffix(".link_error")
    return any(not inside(owner, inner) and (inside(inner, owner) or inside(owner, f"{outer}.chord.body"))
               for inner, outer in pairs)


def _is_chord(path: str, node: Canvas | None) -> bool:
    """A chord, or a chain of that one chord (``chain([chord])`` stays a chain, whose id is the
    chord's: a ChordError stored under it lands where the chord's would; found by the property
    test)."""
    if isinstance(node, Chain):
        steps = prepared_steps(path, node)
        return len(steps) == 1 and isinstance(steps[0][1], Chord)
    return isinstance(node, Chord)


def _chord_body_chord_error_lost(v: Violation, p: Prediction, h: History) -> bool:
    """Redis: a chord whose body is a chord failed in its header. The ChordError is stored under
    the body chord's own id, so what the client awaits below it never resolves: a GroupResult
    holding it or held in its body (a group body of the body chord), or, when the failed chord is
    itself another chord's body, the innermost body, whose parents lead to the outer header
    (which succeeded), not to the failure. Nothing else went missing."""
    if h.backend != "redis" or v.check != "liveness" or check_executions(p, h):
        return False
    canvas = canvas_of(h)
    nodes = dict(walk(canvas))
    waited = awaited(canvas)
    groups = [g for g in waited if isinstance(nodes.get(g), Group)]
    for body in p.chord_errors:
        if not _is_chord(body, nodes.get(body)):
            continue
        if any(inside(body, g) or inside(g, body) for g in groups):
            return True
        failed = body.removesuffix(".chord.body")
        if node_role(failed) == "body" and any(inside(w, body) for w in waited):
            return True
    return False


def _never_told(p: Prediction, h: History) -> tuple[bool, set[str]]:
    """Database: whether a chord whose body is a chord failed in its own header where what
    awaits that body's body waits for ever (see the entry), and the nodes that then never run:
    when the chord is in another chord's header, that outer chord never completes, so its body,
    callbacks and errbacks, and what follows them, never run."""
    canvas = canvas_of(h)
    nodes = dict(walk(canvas))
    groups = [g for g in awaited(canvas) if isinstance(nodes.get(g), Group)]
    stalls, lost = False, set()
    for body in p.chord_errors:
        failed = body.removesuffix(".chord.body")
        if not _is_chord(body, nodes.get(body)):
            continue
        role = node_role(failed)
        if role in ("header", "body") or any(inside(g, body) for g in groups):
            stalls = True
        if role == "header":
            outer = failed[:failed.rfind(".chord.header[")]
            lost |= {n for n in p.executions if inside(n, f"{outer}.chord.body")
                     or n in (f"{outer}.link", f"{outer}.link_error")}
    return stalls, downstream(p, lost, canvas)


def _header_chord_body_chord_stalls(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """Database: a chord whose body is itself a chord failed in its own header; the ChordError
    is stored under the body chord's own id, and what awaits that body's body waits for ever:
    the outer chord_unlock (whose body and errbacks then never run), or get() on the innermost
    body (whose parents no longer lead to the failure), when the chord sits in another chord's
    header or body; get() on a GroupResult in the body chord's body, wherever the chord is
    (found by fuzz). The hang only when nothing else went missing."""
    if h.backend != "database":
        return [False] * len(vs)
    stalls, lost = _never_told(p, h)
    if not stalls:
        return [False] * len(vs)
    missing_ok = all(m.observed == 0 and m.node in lost for m in check_executions(p, h))
    return [(v.check == "liveness" and missing_ok)
            or (v.check == "executions" and v.observed == 0 and v.node in lost) for v in vs]


def _stalled_chords(canvas: Canvas) -> list[str]:
    """Paths of chords with a header member whose result is a group holding a chord: a chain
    ending in such a group, or a chord whose body is one (found by the property test)."""
    found = []
    for path, node in walk(canvas):
        if not isinstance(node, Chord):
            continue
        for i, member in enumerate(node.header):
            mpath = f"{path}.chord.header[{i}]"
            if isinstance(member, Chain) and len(chain_steps(mpath, member)) >= 2:
                last_path, last = prepared_steps(mpath, member)[-1]
            elif isinstance(member, Chord):
                last_path, last = f"{mpath}.chord.body", member.body
            else:
                continue
            grouped = as_group(last_path, last)
            if grouped is not None and any(isinstance(m, Chord) for _, m in children(grouped[1], grouped[0])):
                found.append(path)
                break
    return found


def _header_chain_group_chord_stalls(v: Violation, p: Prediction, h: History) -> bool:
    """Redis: the outer chord's header finished as predicted (its every task ran as often as
    predicted) and its body never started; what is explained is the hang, and "ran 0 times" of
    the body's nodes and of what the model orders after them."""
    if h.backend != "redis" or v.check not in ("liveness", "executions"):
        return False
    ran = executions_by_node(h.events)
    for chord in _stalled_chords(canvas_of(h)):
        header = {n: k for n, k in p.executions.items() if n.startswith(f"{chord}.chord.header[")}
        body = {n for n in p.executions if n.startswith(f"{chord}.chord.body")}
        if any(ran.get(n, 0) != k for n, k in header.items()) or any(ran.get(n) for n in body):
            continue  # the header did not finish as predicted, or the body started: not this bug
        if v.check == "liveness":
            return True
        if v.observed == 0 and v.node in downstream(p, body):
            return True
    return False


def _early_completions(canvas: Canvas) -> list[tuple[str, str]]:
    """(chord, innermost body task): the chord's header holds a chord whose body is a one-member
    group of a chord with a task body (a one-member group stays a chord body, not unrolled)."""
    found = []
    for path, node in walk(canvas):
        if not isinstance(node, Chord):
            continue
        for i, member in enumerate(node.header):
            inner = member.body if isinstance(member, Chord) else None
            if (isinstance(inner, Group) and len(inner.items) == 1 and isinstance(inner.items[0], Chord)
                    and isinstance(inner.items[0].body, Task)):
                found.append((path, f"{path}.chord.header[{i}].chord.body.group[0].chord.body"))
    return found


def _body_called_early(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
    """Redis: the outer chord was completed by the innermost body: its body started only after
    that task ended, and everything in the body ran as the model predicts for the body alone
    called with ``[the innermost result]`` as the header's results (the ledger's value), at
    the nodes where it differs; get() returned what that predicts, when the chord is the root."""
    if h.backend != "redis":
        return [False] * len(vs)
    canvas = canvas_of(h)
    nodes = dict(walk(canvas))
    out = [False] * len(vs)
    for chord, innermost in _early_completions(canvas):
        ok = final_ok(h.events, innermost)
        body = f"{chord}.chord.body"
        starts = [e.mono for e in h.events if e.kind == "start" and inside(e.node, body)]
        if ok is None or not starts or min(starts) < ok.mono:
            continue
        value = (ok.outcome or {}).get("ok")
        try:
            alone = predict(Workload(nodes[body], ([value],)))
        except CanvasError:
            continue  # the body cannot take that input: not this mechanism
        left = still_found(alone, h, partial(rerooted, root=body), NODE_CHECKS)
        for i, v in enumerate(vs):
            if v.node is not None and inside(v.node, body) and v.check in ("executions", "inputs",
                                                                            "results"):
                out[i] = out[i] or (v.check, rerooted(v.node, body)) not in left
            elif v.check == "outcome" and chord == "$":
                c = h.client
                out[i] = out[i] or (c.status == "SUCCESS" and alone.status == "SUCCESS"
                                    and c.value == alone.value) or (
                    c.status == "FAILURE" and c.error in alone.errors)
    return out


def _worker_exit_on_reconnect(v: Violation, p: Prediction, h: History) -> bool:
    return v.check == "worker-exit" and "object has no attribute 'hostname'" in v.message


KILL_WINDOW = 0.5  # s: a kill this soon after a header task's end can fall before its chord count


def _killed_between_store_and_count(p: Prediction, h: History) -> set[str]:
    """Redis: chords whose body never ran although a pool process was really killed within
    KILL_WINDOW s after its last ledger event, the successful end of one of their header tasks,
    and every header task ran."""
    ran = executions_by_node(h.events)
    stalled = set()
    for pid, applied in real_kills(h):
        mine = [e for e in h.events if e.pid == pid]
        last = max(mine, key=lambda e: e.mono, default=None)
        if last is None or last.kind != "end" or "ok" not in (last.outcome or {}):
            continue
        if not 0 <= applied - seconds_into_run(h, last.mono) <= KILL_WINDOW:
            continue
        stalled |= _stalled_after(last.node, p, ran)
    return stalled


def _stalled_after(header_task: str, p: Prediction, ran: dict[str, int]) -> set[str]:
    """When every task of ``header_task``'s chord header ran and its body never did: the body
    and everything after it; else nothing."""
    cut = header_task.rfind(".chord.header[")
    if cut < 0:
        return set()
    chord = header_task[:cut]
    header = [n for n in p.executions if inside(n, f"{chord}.chord.header")]
    body = {n for n in p.executions if inside(n, f"{chord}.chord.body")}
    if all(ran.get(n, 0) >= p.executions[n] for n in header) and not any(ran.get(n) for n in body):
        return downstream(p, body)
    return set()


CLAIM_WINDOW = 21.0  # s: Celery 5.7's chord dispatch claim, 6 s, extended to 21 s to publish


def _claim_left_by_a_killed_worker(p: Prediction, h: History) -> tuple[set[str], set[str]]:
    """Redis backend: chords whose body never ran although every header task ran, one of them
    ended (ok) on a worker SIGKILLed within KILL_WINDOW s after, and that task's redelivered
    copy ran and ended ok within CLAIM_WINDOW s of the kill (so the claim turned it away); and
    the tasks that ran again because they were redelivered (the kill's at-most-once anomaly)."""
    ran = executions_by_node(h.events)
    stalled: set[str] = set()
    copied: set[str] = set()
    for name, applied in real_kills(h, "kill_worker"):
        for end in h.events:
            if end.kind != "end" or "ok" not in (end.outcome or {}) or end.hostname.partition("@")[0] != name:
                continue
            if not 0 <= applied - seconds_into_run(h, end.mono) <= KILL_WINDOW:
                continue
            if any(e.node == end.node and e.kind == "end" and e.mono > end.mono and "ok" in (e.outcome or {})
                   and 0 <= seconds_into_run(h, e.mono) - applied <= CLAIM_WINDOW for e in h.events):
                stalled |= _stalled_after(end.node, p, ran)
    if stalled:
        copied = {e.node for e in h.events if e.kind == "start" and e.redelivered}
    return stalled, copied


def _stalled_by(find: Callable[[Prediction, History], tuple[set[str], set[str]]]) -> Explainer:
    """The hang, and "ran 0 times" of the stalled chords' bodies and what follows them; the
    only other deviation allowed is more runs of a task ``find`` saw redelivered."""
    def explains(vs: list[Violation], p: Prediction, h: History) -> list[bool]:
        if h.backend != "redis":
            return [False] * len(vs)
        stalled, copied = find(p, h)
        if not stalled:
            return [False] * len(vs)
        missing_ok = all((e.observed == 0 and e.node in stalled)
                         or (e.node in copied and e.observed > e.expected)
                         for e in check_executions(p, h))
        return [(v.check == "liveness" and missing_ok)
                or (v.check == "executions" and v.observed == 0 and v.node in stalled) for v in vs]
    return explains


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
        minimal_canvas={"chain": [{"task": "fail", "immutable": True},
                                  {"group": [{"task": "tag", "args": ["a"]},
                                             {"task": "tag", "args": ["b"]}]}]},
        explains=each(_hang_after_upstream_failure),
    ),
    KnownIssue(
        id="header-chain-group-after-failure",
        title="A chord whose header holds a chain that fails before its last step, a group, "
              "never completes (celery#4004 inside a chord header): the group's results are "
              "never sent, and neither the Redis join nor chord_unlock counts that part as "
              "failed, so the chord's body and errbacks never run; get() raises the header's "
              "failure only when it can follow parents to it, and otherwise never returns",
        link="https://github.com/celery/celery/issues/4004 (closed, still reproduces), here "
             "awaited by the chord instead of the client",
        minimal_canvas={"chord": {"header": [{"chain": [
            {"task": "fail"}, {"group": [{"task": "tag", "args": ["a"]},
                                         {"task": "tag", "args": ["b"]}]}]}],
            "body": {"task": "tag", "args": ["z"]}}, "link_error": {"task": "log_error"}},
        explains=_chord_joins_a_hung_group,
    ),
    KnownIssue(
        id="nested-group-order",
        title="A group nested in a chord header, or in a group applied as a chain step or "
              "chord body, yields its members' results in reverse order",
        link="no Celery issue found (searched the tracker for nested group result order); "
             "minimal reproduction in KNOWN_ISSUES.md",
        minimal_canvas={"chain": [{"task": "tag", "args": ["x"]},
                                  {"group": [{"group": [{"task": "tag", "args": ["a"],
                                                         "immutable": True},
                                                        {"task": "tag", "args": ["b"],
                                                         "immutable": True}]},
                                             {"task": "tag", "args": ["c"],
                                              "immutable": True}]}]},
        explains=_nested_group_reordered,
    ),
    KnownIssue(
        id="retry-state-race",
        title="A task that retries with countdown=0 can succeed on its next attempt before the "
              "previous attempt's RETRY state is stored; RETRY then overwrites SUCCESS and get() "
              "never resolves, nor does a chord whose header joins on it (about 1 run in 30 here)",
        link="no Celery issue found (searched the tracker for RETRY overwriting SUCCESS); "
             "minimal reproduction in KNOWN_ISSUES.md",
        minimal_canvas={"chain": [{"task": "tag", "args": ["a"], "immutable": True},
                                  {"task": "retry", "args": [1, "v"], "immutable": True}]},
        explains=_retry_state_overwrites_success, flaky=True,
    ),
    KnownIssue(
        id="group-body-continuation",
        title="In a chain, a step after a chord whose body is a group runs once per member of "
              "that group (each with part of the input) when the step is a chord or group",
        link="no exact match in the tracker; related: https://github.com/celery/celery/issues/5947 "
             "(closed: duplicated bodies in chords of chains with groups)",
        minimal_canvas={"chain": [
            {"chord": {"header": [], "body": {"group": [
                {"task": "tag", "args": ["b"], "immutable": True},
                {"task": "tag", "args": ["c"], "immutable": True}]}}},
            {"chord": {"header": [], "body": {"task": "tag", "args": ["n"]}}}]},
        explains=_group_body_continuation_duplicated,
    ),
    KnownIssue(
        id="chain-body-errback-in-chain",
        title="When a chord whose body is a chain is itself a chain step and its header fails, "
              "the errback of the body chain's first task runs with ChordError; the same chord "
              "at top level does not run it",
        link="no Celery issue found (searched the tracker for chord body chain errbacks)",
        minimal_canvas={"chain": [{"task": "tag", "args": ["x"]}, {"chord": {
            "header": [{"task": "fail"}],
            "body": {"chain": [{"task": "tag", "args": ["a"], "link_error": {"task": "log_error"}},
                               {"task": "tag", "args": ["b"]}]}}}]},
        explains=each(_chain_body_errback_in_chain),
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
        minimal_canvas={"chord": {"header": [{"chord": {"header": [{"task": "fail"}],
                                                        "body": {"task": "tag", "args": ["b"]}}}],
                                  "body": {"task": "tag", "args": ["z"]}},
                        "link_error": {"task": "log_error"}},
        explains=each(_header_chord_failure_lost),
    ),
    KnownIssue(
        id="redis-chord-body-chord-error",
        title="Redis backend: when a chord whose body is itself a chord fails in its header, "
              "a group awaiting it never resolves, nor does the innermost body when the chord is "
              "another chord's body (a top-level get() still raises, through the header); the "
              "database backend resolves it",
        link="no Celery issue found (searched the tracker for chord body chord error)",
        minimal_canvas={"group": [{"chord": {
            "header": [{"task": "fail"}],
            "body": {"chord": {"header": [], "body": {"task": "tag", "args": ["b"]}}}}}]},
        explains=each(_chord_body_chord_error_lost),
    ),
    KnownIssue(
        id="database-header-chord-body-chord",
        title="Database backend: when a chord whose body is a chord fails in its own header, the "
              "ChordError is stored under the body chord's own id, and what waits on that body's "
              "body (which stays PENDING) never resolves: the outer chord_unlock or get() on the "
              "innermost body when the chord is inside another chord (its header or its body; found "
              "by swarm-drawn canvases), and get() on a GroupResult in that body anywhere (found "
              "by fuzz)",
        link="no Celery issue for this shape found; related: https://github.com/celery/celery/issues/"
             "9674 and its fix https://github.com/celery/celery/pull/10323 (a failure now descends "
             "into a chained chord step's body, but not into a chord body that is a chord)",
        minimal_canvas={"chord": {"header": [{"chord": {
            "header": [{"task": "fail"}],
            "body": {"chord": {"header": [], "body": {"task": "tag", "args": ["b"]}}}}}],
            "body": {"task": "tag", "args": ["z"]}}},
        explains=_header_chord_body_chord_stalls,
        backend="database",
    ),
    KnownIssue(
        id="redis-header-chain-group-chord",
        title="Redis backend: a chord whose header holds a chain ending in a group that contains "
              "a chord, or a chord whose body is such a group, never runs its body: every header "
              "task finishes, the outer chord is never counted complete, and its result never "
              "resolves (the database backend's chord_unlock completes it)",
        link="no Celery issue found (searched the tracker for nested chords in a chain's group in a "
             "chord header); related: https://github.com/celery/celery/issues/2922 (closed: chords "
             "within a chord built with group | task never call the outer body)",
        minimal_canvas={"chord": {"header": [{"chain": [
            {"task": "tag", "args": ["a"]},
            {"group": [{"task": "tag", "args": ["b"]},
                       {"chord": {"header": [], "body": {"task": "tag", "args": ["c"]}}}]}]}],
            "body": {"task": "tag", "args": ["z"]}}},
        explains=each(_header_chain_group_chord_stalls),
    ),
    KnownIssue(
        id="redis-header-chord-group-body-chord",
        title="Redis backend: when a chord's header holds a chord whose body is a one-member group "
              "holding a chord, the outer chord completes when the innermost body finishes: its body "
              "is called with the innermost body's result as the whole header's results (the other "
              "members' results are lost) and runs even when another header member fails (found by "
              "fuzz; the database backend hands the body every header result)",
        link="no Celery issue found (searched the tracker for nested chord header results lost); "
             "related: https://github.com/celery/celery/pull/6354 (merged: chord element counting "
             "with nested groups)",
        minimal_canvas={"chord": {"header": [{"chord": {"header": [{"task": "tag", "args": ["a"]}],
                                                        "body": {"group": [{"chord": {
                                                            "header": [{"task": "tag", "args": ["b"]}],
                                                            "body": {"task": "tag", "args": ["y"],
                                                                     "immutable": True}}}]}}},
                                             {"task": "tag", "args": ["t"]}],
                                  "body": {"task": "tag", "args": ["z"]}}},
        explains=_body_called_early,
    ),
    KnownIssue(
        id="database-retry-state",
        title="Database backend: while a task is in the RETRY state, reading its result raises "
              "ValueError or TypeError (exception_to_python calls dict() on the stored value: a "
              "sequence fails with ValueError, which it does not catch; an int with the TypeError "
              "it re-raises): get() fails instead of waiting, and chord_unlock polling a header "
              "that retries crashes, so the body and the chord's errbacks never run",
        link="no Celery issue found (searched the tracker for the ValueError message)",
        minimal_canvas={"task": "retry", "args": [2, "v"], "immutable": True},
        explains=_database_retry_state_unreadable, backend="database", flaky=True,
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
        also="kombu 5.7.0",
        minimal_canvas={"chord": {"header": [{"task": "sleep", "args": [1.0, "a"], "immutable": True},
                                             {"task": "sleep", "args": [1.0, "b"], "immutable": True}],
                                  "body": {"task": "tag", "args": ["z"]}}},
        explains=each(_worker_exit_on_reconnect), backend="database", delivery="acks-late",
        plan={"faults": [{"kind": "restart_redis", "target": "broker", "at": 0.3, "duration": 0.1}]},
        flaky=True, brokers=("redis",),
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
        minimal_canvas={"chord": {"header": [{"task": "mul", "args": [i, 2]} for i in range(1, 6)],
                                  "body": {"task": "tsum"}}},
        explains=_stalled_by(lambda p, h: (_killed_between_store_and_count(p, h), set())),
        delivery="acks-late",
        plan={"faults": [{"kind": "kill_child", "target": "@anchor", "at": 0.0, "duration": 0.05,
                          "anchor": {"event": "end", "role": "header", "count": 1}}]},
        flaky=True,
    ),
    KnownIssue(
        id="chord-claim-held-by-killed-worker",
        title="Redis backend: a worker killed after it claimed a chord's body dispatch (Celery "
              "5.7's claim key) and before it published the body leaves the claim in place, 6 s, "
              "or 21 s once extended for publishing; the redelivered copy of its header task is "
              "counted once and turned away by the claim, nothing tries again later, and the body "
              "never runs. RabbitMQ requeues the copy at once, always inside the claim; Redis's "
              "visibility timeout (10 s here) inside the extended one",
        link="no Celery issue found for the claim (searched for chord dispatch claim); related: "
             "https://github.com/celery/celery/issues/5027 (open: chord callback not executed, "
             "RabbitMQ broker and Redis backend)",
        minimal_canvas={"chord": {"header": [{"task": "tag", "args": ["a"]},
                                             {"task": "tag", "args": ["b"]}],
                                  "body": {"task": "tag", "args": ["z"]}}},
        explains=_stalled_by(_claim_left_by_a_killed_worker), delivery="acks-late",
        plan={"faults": [{"kind": "kill_worker", "target": "@anchor", "at": 0.0, "duration": 0.05,
                          "anchor": {"event": "end", "role": "header", "count": 2}}]},
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
        also="kombu 5.7.0",
        minimal_canvas={"chord": {"header": [{"task": "mul", "args": [i, 2]} for i in range(1, 6)],
                                  "body": {"task": "tsum"}}},
        explains=each(_message_lost_off_queue), delivery="acks-late",
        plan={"faults": [{"kind": "kill_worker", "target": "w0", "at": 0.0, "duration": 0.05}]},
        flaky=True, brokers=("redis",),
    ),
)


def explainers(violations: list[Violation], prediction: Prediction, history: History
               ) -> list[KnownIssue | None]:
    """For each violation, the first entry whose mechanism explains it, on whatever release."""
    explained: list[KnownIssue | None] = [None] * len(violations)
    broker = str(history.meta.get("broker") or "redis")
    for entry in REGISTER:
        if broker not in entry.brokers:
            continue  # kombu's Redis transport cannot explain what a RabbitMQ run did
        for i, hit in enumerate(entry.explains(violations, prediction, history)):
            if hit and explained[i] is None:
                explained[i] = entry
    return explained


def match_known(
    violations: list[Violation], prediction: Prediction, history: History
) -> tuple[list[tuple[str, Violation]], list[Violation]]:
    """Split violations into (known issue id, violation) pairs and unexplained ones.

    An entry explains only the violations its mechanism accounts for, and only on the Celery
    releases where it was verified; elsewhere the violation stays, saying what it resembles."""
    explained = explainers(violations, prediction, history)
    known: list[tuple[str, Violation]] = []
    unexplained: list[Violation] = []
    for v, issue in zip(violations, explained, strict=True):
        if issue is None:
            unexplained.append(v)
        elif issue.verified(history.celery):
            known.append((issue.id, v))
        else:
            on = history.celery or "an unrecorded Celery release"
            unexplained.append(replace(v, message=f"{v.message} (resembles {issue.id}, not verified "
                                                  f"on Celery {on}; verified on {issue.celery_versions})"))
    return known, unexplained
