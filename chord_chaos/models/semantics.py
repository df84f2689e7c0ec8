"""``predict``: what Celery must do with a canvas when nothing goes wrong.

The evaluator walks the canvas the way Celery 5.7 builds and runs it:

* partial args are prepended and kwargs merged, unless the signature is immutable (``.si``);
* a chain forwards each step's value to the next step's entry tasks (every member of a
  group, every task of a chord header); nested chains are flattened, one-member groups are
  unrolled and empty groups are skipped (``celery.canvas._merge_chain_step``); a group
  followed by another step is a chord with that step as body;
* a group's value flattens nested groups (``group._prepared`` unrolls them), but not a chain
  or chord that ends in a group: that member contributes one nested list;
* a chord runs its body once, after every header task, with the header values in header
  order; an empty header runs the body at once with ``[]``;
* a failure stops later chain steps; a failing header keeps the body from running, the body
  is stored as FAILURE with ``ChordError`` and its errbacks run once with it;
* an errback runs once per failure of each task it is attached to; a callback (``link``)
  runs only after success, with the value.

The error ``get()`` raises is a *set* of acceptable exception classes: Celery re-raises the
first failed result it happens to look at, and which one that is depends on timing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chord_chaos.models.canvas import (
    Canvas,
    CanvasError,
    Chain,
    Chord,
    Group,
    Json,
    Task,
    Workload,
    children,
    task_ids,
    walk,
)
from chord_chaos.models.ops import NEW_STYLE_ERRBACKS, OPS, arity_error

CHORD_ERROR = "ChordError"


@dataclass(frozen=True)
class Ok:
    value: Json


@dataclass(frozen=True)
class Err:
    """A failure as seen through a result object.

    ``raised``: classes ``get()`` on this result may raise (it follows parents first).
    ``stored``: classes the result's own stored state may hold (what a group join sees).
    """

    raised: frozenset[str]
    stored: frozenset[str]


Outcome = Ok | Err


@dataclass(frozen=True)
class Call:
    """One predicted execution of a task node.

    ``args``/``result`` are None where they cannot be predicted (an old-style errback
    receives the failed task's id). ``attempts`` counts retries: each is one execution.
    """

    args: list[Json] | None
    kwargs: dict[str, Json] | None
    result: dict[str, Json] | None
    attempts: int = 1


@dataclass(frozen=True)
class Prediction:
    status: str
    value: Json
    errors: tuple[str, ...]
    calls: Mapping[str, tuple[Call, ...]]
    happens_before: tuple[tuple[str, str], ...]
    chord_errors: tuple[str, ...]
    nodes: tuple[str, ...] = field(default=())

    @property
    def executions(self) -> dict[str, int]:
        """How many times each task node runs (0 for nodes that never run)."""
        return {n: sum(c.attempts for c in self.calls.get(n, ())) for n in self.nodes}

    def to_json(self) -> dict[str, Json]:
        out: dict[str, Json] = {"status": self.status}
        if self.status == "SUCCESS":
            out["value"] = self.value
        else:
            out["error"] = self.errors[0] if len(self.errors) == 1 else "|".join(self.errors)
            out["acceptable_errors"] = list(self.errors)
        out["executions"] = self.executions
        out["calls"] = {
            node: [
                {"args": c.args, "kwargs": c.kwargs, "result": c.result, "attempts": c.attempts}
                for c in calls
            ]
            for node, calls in self.calls.items()
        }
        out["happens_before"] = [list(e) for e in self.happens_before]
        out["chord_errors"] = list(self.chord_errors)
        return out


@dataclass(frozen=True)
class _Errback:
    path: str
    task: Canvas  # a Task: check_workload rejects any other errback
    immutable: bool = False
    unchecked: bool = False  # the exception it receives is not modelled


@dataclass(frozen=True)
class _Res:
    outcome: Outcome
    starts: frozenset[str]
    ends: frozenset[str]


def _roundtrip(value: Json) -> Json:
    """What a value looks like after Celery's JSON serializer (tuples become lists)."""
    return json.loads(json.dumps(value))


def as_group(path: str, c: Canvas | _ChordStep | _Steps) -> tuple[str, Group] | None:
    """The group a node is, if any: a group, or a chain that folds to a single group
    (``_merge_chain_step`` returns the group itself when it is the only step)."""
    if isinstance(c, Group):
        return path, c
    if isinstance(c, Chain):
        steps = chain_steps(path, c)
        if len(steps) == 1 and isinstance(steps[0][1], Group):
            return steps[0][0], steps[0][1]
    return None


def _unrolled_members(path: str, g: Group) -> list[tuple[str, Canvas]]:
    """The members ``group._prepared`` yields: nested groups flattened, recursively."""
    out: list[tuple[str, Canvas]] = []
    for p, m in children(g, path):
        inner = as_group(p, m)
        out.extend(_unrolled_members(*inner) if inner else [(p, m)])
    return out


def result_is_group(path: str, c: Canvas | _ChordStep | _Steps) -> bool:
    """Whether the node's result object is a GroupResult."""
    if isinstance(c, _Steps):
        return result_is_group(*c.steps[-1])
    if as_group(path, c) is not None:
        return True
    if isinstance(c, Chain):
        last_path, last = prepared_steps(path, c)[-1]
        return result_is_group(last_path, last)
    if isinstance(c, Chord):
        return result_is_group(f"{path}.chord.body", c.body)
    if isinstance(c, _ChordStep):
        return result_is_group(*c.body)
    return False


def collapses(path: str, c: Canvas) -> bool:
    """``group.apply_async``'s special case: a group whose one task has a GroupResult returns
    that GroupResult itself ("group(A.s() | group(B.s(), C.s()))")."""
    g = as_group(path, c)
    if g is None:
        return False
    members = _unrolled_members(*g)
    return len(members) == 1 and result_is_group(*members[0])


def _is_empty_group(c: Canvas) -> bool:
    return isinstance(c, Group) and not c.items


def _unroll(path: str, c: Canvas) -> tuple[str, Canvas]:
    """``maybe_unroll_group``: a one-member group is its member, one level only."""
    if isinstance(c, Group) and len(c.items) == 1:
        return f"{path}.group[0]", c.items[0]
    return path, c


def _construct(path: str, c: Canvas, steps: list[tuple[str, Canvas]]) -> None:
    """``_merge_chain_step``: empty groups skipped, a one-member group unrolled once (a member
    that is not a group is merged in its place), nested chains flattened. A nested chain of one
    step is that step (``chain() | group`` unrolls it), merged into the outer chain once more,
    so each such level unrolls a one-member group once: ``chain(chain(group(group(t))))`` is
    ``t``, but ``chain(chain(group(group(t)), y))`` keeps ``group(t)``, a chord header for y."""
    if _is_empty_group(c):
        return
    if isinstance(c, Group):
        p, inner = _unroll(path, c)
        if not isinstance(inner, Group):
            _construct(p, inner, steps)
            return
        path, c = p, inner  # a group once unrolled stays a group step
    if isinstance(c, Chain):
        nested: list[tuple[str, Canvas]] = []
        for i, item in enumerate(c.items):
            _construct(f"{path}.chain[{i}]", item, nested)
        if len(nested) == 1 and isinstance(nested[0][1], Group):
            _construct(*nested[0], steps)  # a one-step chain is its step: merged, unrolled again
        else:
            steps.extend(nested)
        return
    steps.append((path, c))


def _led_by_group(path: str, chain: Chain) -> bool:
    """Whether ``_fold_chain`` hands this chain to ``group.__or__``: its first non-empty item,
    unrolled once, is a group; a one-step chain is its step (``chain() | group``), so
    ``chain(chain(group(a, b)), x)`` is led by a group too."""
    items = [item for item in chain.items if not _is_empty_group(item)]
    if not items:
        return False
    first = items[0]
    while isinstance(first, Chain):
        inner = [item for item in first.items if not _is_empty_group(item)]
        if len(inner) != 1:
            return False
        first = inner[0]
    return isinstance(_unroll(path, first)[1], Group)


def prepared_steps(path: str, chain: Chain) -> list[tuple[str, Canvas | _ChordStep | _Steps]]:
    """The steps a chain runs: built, prepared and with groups upgraded to chords. A chain led
    by a group is composed by ``group.__or__`` (``lead | task`` is a chord) and then
    ``chord.__or__``, which attaches each following task to that chord's body: the tasks after
    the leading group are the body, as a chain (so is a chain that follows it, kept as written:
    ``chain(group(..), chain(t))`` has the chain body ``chain(t)``, whose tasks keep their own
    errbacks to themselves on ChordError)."""
    group_led = _led_by_group(path, chain)
    steps = _prepare(chain_steps(path, chain), group_led)
    if group_led and isinstance(steps[0][1], Group):
        j = 1
        while j < len(steps) and isinstance(steps[j][1], Task):
            j += 1
        rest = [item for item in chain.items if not _is_empty_group(item)][1:]
        if j > 2 or (j == 2 and rest and isinstance(rest[0], Chain)):  # a chain body, as written
            lead_path, lead = steps[0]
            tail = (steps[1][0], _Steps(steps[1:j]))
            return [(lead_path, _ChordStep(list(children(lead, lead_path)), tail)),
                    *_upgrade_groups(steps[j:])]
    return _upgrade_groups(steps)


def chain_steps(path: str, chain: Chain) -> list[tuple[str, Canvas]]:
    """The steps a chain is built from (``chain([...])``), before ``prepare_steps``."""
    steps: list[tuple[str, Canvas]] = []
    for i, item in enumerate(chain.items):
        _construct(f"{path}.chain[{i}]", item, steps)
    return steps


def _prepare(steps: list[tuple[str, Canvas]], group_led: bool) -> list[tuple[str, Canvas]]:
    """``prepare_steps``: a group step that was not already made a chord when the chain was
    built (one followed by a non-group step) is unrolled once more. A chain led by a group is
    built by ``group.__or__`` instead (``_fold_chain``), which makes ``lead | next`` a chord
    whatever ``next`` is: its leading group is never unrolled again (``chain(group(group(a)),
    group(b, c))`` is ``chord([a], group(b, c))``)."""
    if len(steps) < 2:
        return steps
    out: list[tuple[str, Canvas]] = []
    for i, (p, step) in enumerate(steps):
        chorded = i + 1 < len(steps) and (
            not isinstance(steps[i + 1][1], Group) or (i == 0 and group_led))
        if isinstance(step, Group) and not chorded:
            p, step = _unroll(p, step)
        out.append((p, step))
    return out


class _Evaluator:
    def __init__(self, allow_header_errbacks: bool) -> None:
        self.allow_header_errbacks = allow_header_errbacks
        self.calls: dict[str, list[Call]] = {}
        self.hb: set[tuple[str, str]] = set()
        self.chord_errors: list[str] = []

    # -- recording
    def _record(self, path: str, call: Call) -> None:
        self.calls.setdefault(path, []).append(call)

    def _edges(self, before: frozenset[str], after: frozenset[str]) -> None:
        self.hb.update((a, b) for a in before for b in after)

    # -- dispatch
    def run(
        self,
        path: str,
        c: Canvas | _ChordStep | _Steps,
        pargs: tuple[Json, ...],
        pkwargs: Mapping[str, Json],
        errbacks: tuple[_Errback, ...] = (),
    ) -> _Res:
        if isinstance(c, _Steps):
            return self._chain(c.steps, pargs, pkwargs, errbacks)
        if isinstance(c, _ChordStep):
            return self._chord(path, c.header, c.body, None, pargs, pkwargs, errbacks)
        if isinstance(c, Task):
            return self._task(path, c, pargs, pkwargs, errbacks)
        grouped = as_group(path, c)
        if grouped is not None:
            gpath, g = grouped
            members = list(children(g, gpath))
            return self._group(members, pargs, pkwargs, errbacks)
        if isinstance(c, Chain):
            return self._chain(prepared_steps(path, c), pargs, pkwargs, errbacks)
        assert isinstance(c, Chord)
        header = [(f"{path}.chord.header[{i}]", h) for i, h in enumerate(c.header)]
        return self._chord(path, header, (f"{path}.chord.body", c.body), c, pargs, pkwargs,
                           errbacks)

    # -- tasks
    def _task(
        self,
        path: str,
        t: Task,
        pargs: tuple[Json, ...],
        pkwargs: Mapping[str, Json],
        inherited: tuple[_Errback, ...],
    ) -> _Res:
        args = _roundtrip(list(t.args) if t.immutable else [*pargs, *t.args])
        kwargs = _roundtrip(dict(t.kwargs) if t.immutable else {**t.kwargs, **pkwargs})
        outcome: Outcome
        try:
            value = _roundtrip(OPS[t.op](*args, **kwargs))
        except Exception as exc:  # the op's own failure is the predicted outcome
            name = type(exc).__name__
            outcome = Err(frozenset({name}), frozenset({name}))
            self._record(path, Call(args, kwargs, {"error": name}))
        else:
            outcome = Ok(value)
            attempts = args[0] + 1 if t.op == "retry" else 1
            self._record(path, Call(args, kwargs, {"ok": value}, attempts))
        me = frozenset({path})
        if isinstance(outcome, Ok) and t.link is not None:
            self._edges(me, self.run(f"{path}.link", t.link, (outcome.value,), {}).starts)
        if isinstance(outcome, Err):
            own = (_Errback(f"{path}.link_error", t.link_error),) if t.link_error else ()
            self._errbacks(me, own + inherited, _only(outcome.stored))
        return _Res(outcome, me, me)

    def _errbacks(self, after: frozenset[str], errbacks: tuple[_Errback, ...], exc: str) -> None:
        for eb in errbacks:
            assert isinstance(eb.task, Task)
            if eb.task.op in NEW_STYLE_ERRBACKS and not eb.unchecked:
                call = Call(None, None, {"ok": exc})
            else:  # old style: applied as a task with the failed task's id
                call = Call(None, None, None)
            self._record(eb.path, call)
            self._edges(after, frozenset({eb.path}))

    # -- composites
    def _chain(
        self,
        steps: Sequence[tuple[str, Canvas | _ChordStep | _Steps]],
        pargs: tuple[Json, ...],
        pkwargs: Mapping[str, Json],
        errbacks: tuple[_Errback, ...],
    ) -> _Res:
        starts: frozenset[str] | None = None
        ends: frozenset[str] = frozenset()
        outcome: Outcome = Ok(None)
        for path, step in _attach_to_group_bodies(steps):
            res = self.run(path, step, pargs, pkwargs, errbacks)
            self._edges(ends, res.starts)
            if starts is None:
                starts = res.starts
            ends = res.ends or ends
            outcome = res.outcome
            if isinstance(outcome, Err):
                break
            pargs, pkwargs = (outcome.value,), {}
        return _Res(outcome, starts or frozenset(), ends)

    def _members(
        self,
        members: list[tuple[str, Canvas]],
        pargs: tuple[Json, ...],
        pkwargs: Mapping[str, Json],
        errbacks: tuple[_Errback, ...],
        chord_errbacks: tuple[_Errback, ...] = (),
    ) -> tuple[list[_Res], Outcome]:
        """Run group members in parallel; Ok(flattened values) or the union of failures."""
        results = [
            self.run(p, m, pargs, pkwargs, errbacks + (chord_errbacks if isinstance(m, Chord)
                                                        else ()))
            for p, m in members
        ]
        failed = [r.outcome for r in results if isinstance(r.outcome, Err)]
        if failed:
            return results, Err(
                frozenset().union(*(e.raised | e.stored for e in failed)),
                frozenset().union(*(e.stored for e in failed)),
            )
        values: list[Json] = []
        for (p, m), r in zip(members, results, strict=True):
            assert isinstance(r.outcome, Ok)
            if as_group(p, m) is not None:
                values.extend(r.outcome.value)
            else:
                values.append(r.outcome.value)
        return results, Ok(values)

    def _group(
        self,
        members: list[tuple[str, Canvas]],
        pargs: tuple[Json, ...],
        pkwargs: Mapping[str, Json],
        errbacks: tuple[_Errback, ...],
    ) -> _Res:
        results, outcome = self._members(members, pargs, pkwargs, errbacks)
        starts = frozenset().union(*(r.starts for r in results))
        ends = frozenset().union(*(r.ends for r in results))
        return _Res(outcome, starts, ends)

    def _chord(
        self,
        path: str,
        header: list[tuple[str, Canvas]],
        body: tuple[str, Canvas | _ChordStep | _Steps],
        spec: Chord | None,
        pargs: tuple[Json, ...],
        pkwargs: Mapping[str, Json],
        inherited: tuple[_Errback, ...] = (),
    ) -> _Res:
        body_path, body_canvas = body
        # Errbacks reaching a chord behave as ``chord.link_error``: linked to the body, to the
        # header tasks only with task_allow_error_cb_on_chord_header, and passed on to chords
        # that are direct header members ("Edge case for nested chords in the header").
        chord_eb = inherited
        if spec is not None and spec.link_error is not None:
            chord_eb = (_Errback(f"{path}.link_error", spec.link_error), *inherited)
        header_eb: tuple[_Errback, ...] = ()
        if self.allow_header_errbacks:
            header_eb = tuple(_Errback(e.path, e.task, True) for e in chord_eb)
        results, outcome = self._members(header, pargs, pkwargs, header_eb, chord_eb)
        starts = frozenset().union(*(r.starts for r in results))
        header_ends = frozenset().union(*(r.ends for r in results))
        if isinstance(outcome, Err):
            failed_ends = frozenset().union(
                *(r.ends for r in results if isinstance(r.outcome, Err))
            )
            self.chord_errors.append(body_path)
            self._errbacks(failed_ends, _body_errbacks(body_path, body_canvas, chord_eb),
                           CHORD_ERROR)
            # get() follows parents and re-raises a failed header task's exception (the
            # ``follow_parents`` docs), or raises the body's stored ChordError (the canvas
            # guide's "Error handling" example): both are documented, so both are accepted.
            # Parents are followed recursively, so a failed member's own raised set counts too.
            raised = frozenset({CHORD_ERROR}).union(
                *(r.outcome.stored | r.outcome.raised for r in results if isinstance(r.outcome, Err))
            )
            return _Res(Err(raised, frozenset({CHORD_ERROR})), starts, header_ends)
        body_res = self.run(body_path, body_canvas, (outcome.value,), {}, chord_eb)
        self._edges(header_ends, body_res.starts)
        if spec is not None and spec.link is not None and isinstance(body_res.outcome, Ok):
            link = self.run(f"{path}.link", spec.link, (body_res.outcome.value,), {})
            self._edges(body_res.ends, link.starts)
        return _Res(body_res.outcome, starts or body_res.starts, body_res.ends)


@dataclass(frozen=True)
class _ChordStep:
    """A group followed by a step in a chain: Celery upgrades the pair to a chord."""

    header: list[tuple[str, Canvas]]
    body: tuple[str, Canvas | _ChordStep | _Steps]


@dataclass(frozen=True)
class _Steps:
    """Chain steps that ``chord.__or__`` moved into a chord's body, keeping their own paths."""

    steps: Sequence[tuple[str, Canvas | _ChordStep | _Steps]]


def _attach_to_group_bodies(
    steps: Sequence[tuple[str, Canvas | _ChordStep | _Steps]],
) -> list[tuple[str, Canvas | _ChordStep | _Steps]]:
    """``chord.__or__``: the tasks after a chord whose body is a group are attached to that
    body, and ``group | task`` is a chord, so they run as the body of a chord over the group's
    members (a failing member stores ChordError there, not the member's own exception; with
    several tasks that body is their chain, whose tasks' own errbacks are not called)."""
    out: list[tuple[str, Canvas | _ChordStep | _Steps]] = []
    i = 0
    while i < len(steps):
        path, step = steps[i]
        j = i + 1
        while j < len(steps) and isinstance(steps[j][1], Task):
            j += 1
        if isinstance(step, Chord) and isinstance(step.body, Group) and step.body.items and j > i + 1:
            body_path = f"{path}.chord.body"
            header = [(f"{path}.chord.header[{k}]", h) for k, h in enumerate(step.header)]
            tail = steps[i + 1] if j == i + 2 else (steps[i + 1][0], _Steps(steps[i + 1:j]))
            out.append((path, _ChordStep(header, (body_path, _ChordStep(
                list(children(step.body, body_path)), tail)))))
            i = j
            continue
        out.append((path, step))
        i += 1
    return out


def _upgrade_groups(
    steps: list[tuple[str, Canvas]],
) -> list[tuple[str, Canvas | _ChordStep | _Steps]]:
    """Pair each group with the (already upgraded) step after it, from the end, as Celery does."""
    out: list[tuple[str, Canvas | _ChordStep | _Steps]] = []
    for path, step in reversed(steps):
        if isinstance(step, Group) and out:
            next_path, next_step = out.pop()
            members = list(children(step, path))
            out.append((path, _ChordStep(members, (next_path, next_step))))
        else:
            out.append((path, step))
    return list(reversed(out))


def _body_errbacks(
    body_path: str, body: Canvas | _ChordStep | _Steps, linked: tuple[_Errback, ...]
) -> tuple[_Errback, ...]:
    """Errbacks ``chord_error_from_stack`` calls with ChordError: those on the body task."""
    if not isinstance(body, _ChordStep | _Steps) and as_group(body_path, body) is not None:
        # _handle_group_chord_error: each member's _result_errbacks, with the original
        # exception; a chain that is only a group is that group
        return tuple(_Errback(e.path, e.task, e.immutable, unchecked=True)
                     for e in _result_errbacks(body_path, body, linked))
    if isinstance(body, Chain | _Steps):  # a chain body keeps linked errbacks in its own options
        return linked
    if not isinstance(body, Task):
        return ()
    own = (_Errback(f"{body_path}.link_error", body.link_error),) if body.link_error else ()
    return own + linked


def _result_errbacks(
    path: str, c: Canvas, linked: tuple[_Errback, ...]
) -> list[_Errback]:
    """``celery.backends.base._result_errbacks``: a chord's are its body's, a group collects
    its members', a chain has only its own (the linked ones)."""
    if isinstance(c, Task):
        own = [_Errback(f"{path}.link_error", c.link_error)] if c.link_error else []
        return own + list(linked)
    grouped = as_group(path, c)
    if grouped is not None:
        return [e for p, m in children(grouped[1], grouped[0])
                for e in _result_errbacks(p, m, linked)]
    if isinstance(c, Chord):
        mine = (_Errback(f"{path}.link_error", c.link_error),) if c.link_error else ()
        return _result_errbacks(f"{path}.chord.body", c.body, mine + linked)
    return list(linked)


def _only(names: frozenset[str]) -> str:
    return sorted(names)[0]


# ---------------------------------------------------------------- validation


def _check_led_by_group(path: str, c: Chain) -> None:
    """``_fold_chain`` hands a chain whose first step is a group to the ``|`` operators of
    group, chord and chain instead of ``_merge_chain_step``: ``group | x`` keeps a one-member
    group ``x`` as the chord body (``chain(group(a, b), group(c))`` returns ``[[c]]``), and
    ``chord | chain`` or ``chord | group`` makes a chain *after* the chord (a step after a chord
    with a group body, see group-body-continuation), where ``_merge_chain_step`` would nest it
    in the chord's body. The model follows ``_merge_chain_step`` only: reject those shapes."""
    items = [(i, item) for i, item in enumerate(c.items) if not _is_empty_group(item)]
    if len(items) < 2 or not _led_by_group(path, c):
        return
    problem = ("after a chain's leading group, Celery composes with group.__or__ and chord.__or__, "
               "not _merge_chain_step")
    i, first = items[1]
    if isinstance(first, Group) and len(first.items) == 1:
        raise CanvasError(f"{path}.chain[{i}]", f"a one-member group {problem} (it stays the chord "
                          "body) and is not modelled", "give the group a second member")
    body_group = result_is_group(f"{path}.chain[{i}]", first)  # the chord body's result
    previous = first
    for i, item in items[2:]:
        p, item = _unroll(f"{path}.chain[{i}]", item)
        if isinstance(previous, Chord) and _has_errback(previous):
            raise CanvasError(p, f"a step following a chord that has an errback: {problem}, and "
                              "chord.__or__ moves the step into the chord's body, whose errbacks "
                              "Celery then does not call on ChordError; not modelled",
                              "lead the chain with a task, or drop the step")
        previous = item
        if isinstance(item, Chain | Group):
            if body_group:  # chain(chord(g, group), item): the step after a group body
                raise CanvasError(p, f"a chain or group after a group chord body {problem}; not "
                                  "modelled", "put a task between them")
            return  # from here on, chain.__or__ follows _merge_chain_step
        body_group = result_is_group(p, item)


def _has_errback(c: Chord) -> bool:
    """A chord errback, or one on its body task: both are lost once the body becomes a chain."""
    return c.link_error is not None or (isinstance(c.body, Task) and c.body.link_error is not None)


def check_workload(workload: Workload) -> None:
    """Reject canvases the model cannot predict exactly; CanvasError names the path."""
    _check(workload.canvas, "$", len(workload.args), frozenset(workload.kwargs), workload)


def _check(c: Canvas, path: str, n_in: int, kw_in: frozenset[str], w: Workload) -> None:
    if isinstance(c, Task):
        if c.op in NEW_STYLE_ERRBACKS:
            raise CanvasError(path, f"{c.op} is an errback", "use it only as a link_error")
        n = len(c.args) + (0 if c.immutable else n_in)
        kws = sorted(set(c.kwargs) | (set() if c.immutable else kw_in))
        problem = arity_error(c.op, n, kws)
        if problem:
            fix = "adjust args, or make it immutable so it ignores the parent's result"
            raise CanvasError(path, f"{c.op} would get {n} positional args ({problem})", fix)
        _check_callbacks(c, path, w)
    elif isinstance(c, Chain):
        for i, item in enumerate(c.items):
            _check(item, f"{path}.chain[{i}]", n_in if i == 0 else 1, kw_in if i == 0 else
                   frozenset(), w)
        if not chain_steps(path, c):
            raise CanvasError(path, "chain without tasks", "give the chain at least one task")
        _check_led_by_group(path, c)
    elif isinstance(c, Group):
        for i, item in enumerate(c.items):
            _check(item, f"{path}.group[{i}]", n_in, kw_in, w)
    else:
        for i, item in enumerate(c.header):
            _check(item, f"{path}.chord.header[{i}]", n_in, kw_in, w)
        _check(c.body, f"{path}.chord.body", 1, frozenset(), w)
        if (c.link or c.link_error) and not isinstance(c.body, Task):
            raise CanvasError(
                path, "link/link_error on a chord whose body is not a single task is not modelled",
                "put the callback on the body's last task instead",
            )
        if c.link_error and w.allow_error_cb_on_chord_header:
            for p, h in _descendants(c.header, f"{path}.chord.header"):
                if isinstance(h, Chord):
                    raise CanvasError(
                        p, "a chord errback reaching a nested chord's header is not modelled",
                        "drop task_allow_error_cb_on_chord_header or the nested chord",
                    )
        _check_callbacks(c, path, w)


def _check_callbacks(c: Task | Chord, path: str, w: Workload) -> None:
    if c.link is not None:
        _check(c.link, f"{path}.link", 1, frozenset(), w)
    eb = c.link_error
    if eb is None:
        return
    p = f"{path}.link_error"
    if not isinstance(eb, Task) or eb.link is not None or eb.link_error is not None:
        raise CanvasError(p, "an errback must be a single task without callbacks",
                          'write "link_error": {"task": "log_error"}')
    if eb.op in NEW_STYLE_ERRBACKS:
        if eb.args or eb.kwargs or eb.immutable:
            raise CanvasError(p, f"{eb.op} takes (request, exc, traceback) only",
                              'write "link_error": {"task": "log_error"}')
        return
    _check(eb, p, 1, frozenset(), w)


def _descendants(items: tuple[Canvas, ...], path: str) -> list[tuple[str, Canvas]]:
    out: list[tuple[str, Canvas]] = []
    for i, item in enumerate(items):
        out.extend(walk(item, f"{path}[{i}]"))
    return out


# ---------------------------------------------------------------- entry point


def predict(workload: Workload) -> Prediction:
    """Predict the outcome, execution counts, inputs and ordering of a workload."""
    check_workload(workload)
    ev = _Evaluator(workload.allow_error_cb_on_chord_header)
    res = ev.run("$", workload.canvas, workload.args, workload.kwargs)
    nodes = tuple(task_ids(workload.canvas))
    calls = {n: tuple(ev.calls.get(n, ())) for n in nodes}
    errors: tuple[str, ...] = ()
    if isinstance(res.outcome, Ok):
        status, value = "SUCCESS", res.outcome.value
        if collapses("$", workload.canvas):
            value = value[0]
    else:
        status, value, errors = "FAILURE", None, tuple(sorted(res.outcome.raised))
    # A node that runs more than once (an errback attached to several tasks) has no single
    # start to order against: each run follows its own failure, which first/last times can't see.
    counts = {n: sum(c.attempts for c in calls.get(n, ())) for n in nodes}
    edges = tuple(sorted(e for e in ev.hb if counts.get(e[1], 0) <= 1))
    return Prediction(
        status=status,
        value=value,
        errors=errors,
        calls=calls,
        happens_before=edges,
        chord_errors=tuple(ev.chord_errors),
        nodes=nodes,
    )
