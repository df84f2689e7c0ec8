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

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

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
from chord_chaos.models.markers import one_of, task_id, unknown_task_id
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

    ``args``/``result`` are None where they cannot be predicted. An errback's args hold the
    failed task's id as a marker (``models/markers.py``) that the checks resolve against the
    ledger; a new-style errback's args are what it received: ``[request.id, exc class]``.
    ``attempts`` counts retries: each is one execution.
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
    # chord body path -> the task nodes that receive its header's results as their first
    # argument (the body, or a chain's first task, a group's members, a chord's header tasks)
    chord_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

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
    classes: frozenset[str] | None = None  # on ChordError of a group body: what it may get
    source: str | None = None  # on ChordError of a group body: the member whose id it gets


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


@dataclass(frozen=True)
class _Header(Group):
    """The leading group of a nested group-led chain: ``chain.__new__`` already folded that
    chain with ``group.__or__`` into a chord over it, so ``prepare_steps`` never unrolls it
    (``chain(chain(group(group(a)), group(b, c)), x)`` runs ``a`` as a one-member header)."""


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
            if len(nested) > 1 and _led_by_group(path, c) and isinstance(nested[0][1], Group):
                nested[0] = (nested[0][0], _Header(nested[0][1].items))
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
    by a group is composed by the ``|`` operators instead (``_compose_group_led``)."""
    items = _non_empty(chain)
    if len(items) == 1 and isinstance(items[0][1], Chain) and _runs_apart(
            f"{path}.chain{items[0][0]}", items[0][1]):  # chain([X]) runs X
        return prepared_steps(f"{path}.chain{items[0][0]}", items[0][1])
    if _led_by_group(path, chain) and len(items) > 1:
        composed = _compose_group_led(path, chain)
        return list(composed[1].steps) if isinstance(composed[1], _Steps) else [composed]
    return _upgrade_groups(_prepare(chain_steps(path, chain), False))


def _composed_apart(path: str, chain: Chain) -> bool:
    """Whether a group-led chain composes into what flattening it would not give: a one-member
    group right after the leading group (it stays the chord body), or a chain or group after a
    step whose result is a group (``chord.__or__`` chains it after the chord)."""
    items = _non_empty(chain)
    if len(items) < 2 or not _led_by_group(path, chain):
        return False
    second = items[1][1]
    if isinstance(second, Group) and len(second.items) == 1:
        return True
    for (i, before), (_, after) in itertools.pairwise(items[1:]):
        if isinstance(after, Chain | Group) and result_is_group(f"{path}.chain{i}", before):
            return True
    return False


def _runs_apart(path: str, chain: Chain) -> bool:
    """``_composed_apart``, or a chain of one chain that is (``chain([X])`` is X, at any depth:
    ``chain(chain(chain(group(a, b), group(c))))`` keeps ``group(c)`` as the chord body)."""
    items = _non_empty(chain)
    if len(items) == 1 and isinstance(items[0][1], Chain):
        return _runs_apart(f"{path}.chain{items[0][0]}", items[0][1])
    return _composed_apart(path, chain)


def _non_empty(chain: Chain) -> list[tuple[str, Canvas]]:
    return [(f"[{i}]", item) for i, item in enumerate(chain.items) if not _is_empty_group(item)]


def _compose_group_led(path: str, chain: Chain) -> _Step:
    """``_fold_chain``: once the leading group is reached, the rest of the chain is folded with
    ``|`` (``reduce(operator.or_, remaining, group)``): ``group.__or__`` makes ``lead | x`` a
    chord whatever ``x`` is (a one-member group stays the body), ``chord.__or__`` moves a task,
    a chord or a one-member group's member into the body and starts a chain otherwise, and
    ``_chain.__or__`` collapses ``chain(.., chord, group) | task`` into the chord's body. Raises
    CanvasError for what the model does not follow (see ``_refuse_continuation``)."""
    items = [(f"{path}.chain{i}", item) for i, item in _non_empty(chain)]
    lead_path, lead = items[0]
    while isinstance(lead, Chain):  # _led_by_group: each level has one non-empty item
        lead_path, lead = next((f"{lead_path}.chain{i}", x) for i, x in _non_empty(lead))
    acc: _Step = _unroll(lead_path, lead)
    for p, item in items[1:]:
        acc = _or(acc, _celery(p, item))
    return _lower(acc)


def _celery(path: str, c: Canvas) -> _Step:
    """The signature Celery builds for a node: a chain folds (``chain.__new__``) to its one
    group, to what its ``|`` operators return when a group leads it, or to a chain of steps."""
    if not isinstance(c, Chain):
        return path, c
    grouped = as_group(path, c)
    if grouped is not None:
        return grouped
    if _led_by_group(path, c):
        return _compose_group_led(path, c)
    return path, _Steps(chain_steps(path, c))


def _builds_chord(path: str, c: Canvas) -> bool:
    """Whether Celery builds this node as a chord: a chord, or a chain that ``chain.__new__``
    folds into one (``chain(group(a, b), t)`` is ``chord(group(a, b), t)``), which
    ``chord.link_error`` then treats as a nested header chord."""
    return isinstance(c, Chord) or (isinstance(c, Chain) and _led_by_group(path, c)
                                    and _kind(_celery(path, c)[1]) == "chord")


def _kind(node: _Node) -> str:
    if isinstance(node, Group):
        return "group"
    if isinstance(node, Chord | _ChordStep):
        return "chord"
    if isinstance(node, Chain | _Steps):
        return "chain"
    return "task"


def _unchain(step: _Step) -> list[_Step]:
    """``_chain.unchain_tasks``: the steps of a chain."""
    path, node = step
    if isinstance(node, _Steps):
        return list(node.steps)
    assert isinstance(node, Chain)
    return list(chain_steps(path, node))


def _chord_parts(step: _Step) -> tuple[list[tuple[str, Canvas]], _Step]:
    """A chord's header members and body; a chord whose body ``|`` changes keeps no callbacks
    of its own in the model: refused, since Celery links them to the body it replaces."""
    path, node = step
    if isinstance(node, _ChordStep):
        return node.header, node.body
    assert isinstance(node, Chord)
    if node.link is not None or node.link_error is not None:
        raise CanvasError(path, "a step composed into the body of a chord with a link or "
                          "link_error (chord.__or__ after a leading group): the chord's callbacks "
                          "stay on the body task it replaces; not modelled",
                          "lead the chain with a task, or drop the step")
    header = [(f"{path}.chord.header[{i}]", h) for i, h in enumerate(node.header)]
    return header, _celery(f"{path}.chord.body", node.body)


def _or(left: _Step, right: _Step) -> _Step:
    """``left | right`` by the operator of ``left``'s type (canvas.py ``group.__or__``,
    ``_chord.__or__``, ``_chain.__or__``, ``Signature.__or__``)."""
    lpath, lnode = left
    rpath, rnode = right
    lk, rk = _kind(lnode), _kind(rnode)
    if isinstance(rnode, Group) and not rnode.items:
        if lk != "group":
            raise CanvasError(rpath, "an empty group after a chain's leading group and its next "
                              "step (Celery then makes it the header of the following step's "
                              "chord); not modelled", "drop the empty group")
        return left
    if lk == "group":  # group | x -> chord(group, x), x as it is
        assert isinstance(lnode, Group)
        return lpath, _ChordStep(list(children(lnode, lpath)), right)
    if lk == "chord":
        header, body = _chord_parts(left)
        if rk in ("task", "chord"):
            return lpath, _ChordStep(header, _or(body, right))
        if isinstance(rnode, Group) and len(rnode.items) == 1:
            return lpath, _ChordStep(header, _or(body, _celery(*_unroll(rpath, rnode))))
        return lpath, _Steps([left, *(_unchain(right) if rk == "chain" else [right])])
    if lk == "chain":
        return _chain_or(left, right)
    # task | x: a chain; a one-member group is unrolled, a chain's steps spliced
    if isinstance(rnode, Group):
        right = _celery(*_unroll(rpath, rnode))
    return lpath, _Steps([left, *(_unchain(right) if _kind(right[1]) == "chain" else [right])])


def _chain_or(left: _Step, right: _Step) -> _Step:
    """``_chain.__or__``."""
    lpath = left[0]
    rpath, rnode = right
    steps = _unchain(left)
    if isinstance(rnode, Group):
        p, member = _unroll(rpath, rnode)
        if not isinstance(member, Group):
            return _or(left, _celery(p, member))
        if _kind(steps[-1][1]) == "chord":
            header, body = _chord_parts(steps[-1])
            return lpath, _Steps([*steps[:-1], (steps[-1][0], _ChordStep(header, _or(body, right)))])
        return lpath, _Steps([*steps, right])
    if _kind(rnode) == "chain":
        acc = left
        for step in _unchain(right):
            acc = _or(acc, step)
        return acc
    last_path, last = steps[-1]
    if isinstance(last, Group):  # chain(.., group) | task -> chord, merged into a chord before it
        new = (last_path, _ChordStep(list(children(last, last_path)), right))
        if len(steps) > 1 and _kind(steps[-2][1]) == "chord":
            header, body = _chord_parts(steps[-2])
            return lpath, _Steps([*steps[:-2], (steps[-2][0], _ChordStep(header, _or(body, new)))])
        return lpath, _Steps([*steps[:-1], new])
    if _kind(last) == "chord" and _kind(rnode) != "chord":
        header, body = _chord_parts(steps[-1])
        return lpath, _Steps([*steps[:-1], (last_path, _ChordStep(header, _or(body, right)))])
    return lpath, _Steps([*steps, right])


def _lower(step: _Step, as_body: bool = False) -> _Step:
    """What runs: each chain composed here prepared (``prepare_steps``: groups unrolled once,
    a group followed by a step upgraded to a chord), each chord body lowered in turn. A chain
    of one step stays a chain as a chord body: its task's own errbacks are not the body's
    (``chord(g, chain(c))`` does not call c's errback on ChordError)."""
    path, node = step
    if isinstance(node, _ChordStep):
        body = _lower(node.body, as_body=True)
        if _kind(body[1]) == "chord":
            _refuse_failing_body(body)
        return path, _ChordStep(node.header, body)
    if not isinstance(node, _Steps):
        return step
    steps = _upgrade_groups(_prepare([_lower(s) for s in node.steps], False))
    _refuse_continuation(steps)
    return (steps[0] if len(steps) == 1 and not as_body else (path, _Steps(steps)))


def _refuse_failing_body(body: _Step) -> None:
    """A chord that is another chord's body, whose own body is a chord, and whose header can
    fail: Celery stores the ChordError under the innermost chord's own id, and get() never
    resolves (seen on Redis; redis-chord-body-chord-error, in a spelling the register does not
    recognise): refused rather than predicted."""
    path, node = body
    header = node.header if isinstance(node, _ChordStep) else []
    if isinstance(node, Chord):
        header = [(f"{path}.chord.header[{i}]", h) for i, h in enumerate(node.header)]
    inner = node.body if isinstance(node, _ChordStep) else (f"{path}.chord.body", node)
    if _kind(inner[1]) == "chord" and any(
            isinstance(t, Task) and t.op == "fail" for _, h in header for _, t in walk(h)):
        raise CanvasError(path, "a chord with a chord body and a failing header, composed into "
                          "another chord's body by the | operators (Celery's result never "
                          "resolves: redis-chord-body-chord-error); not modelled",
                          "end the chain with a task after a single group, or drop the failure")


def _refuse_continuation(steps: Sequence[_Step]) -> None:
    """A step after a chord whose body is a group, in a chain these operators built, runs once
    per member of that group in Celery (group-body-continuation), in a spelling the register
    does not recognise: refused rather than predicted."""
    for (p, step), (q, _) in itertools.pairwise(steps):
        if result_is_group(p, step):
            raise CanvasError(q, "a step after a chord whose body is a group, in a chain led by a "
                              "group (Celery runs it once per member: group-body-continuation); "
                              "not modelled", "end the chain at the group, or put a task before it")


def chain_steps(path: str, chain: Chain) -> list[tuple[str, Canvas]]:
    """The steps a chain is built from (``chain([...])``), before ``prepare_steps``."""
    steps: list[tuple[str, Canvas]] = []
    for i, item in enumerate(chain.items):
        _construct(f"{path}.chain[{i}]", item, steps)
    return steps


def _prepare(steps: Sequence[_Step], group_led: bool) -> list[_Step]:
    """``prepare_steps``: a group step that was not already made a chord when the chain was
    built (one followed by a non-group step) is unrolled once more. A chain led by a group is
    built by ``group.__or__`` instead (``_fold_chain``), which makes ``lead | next`` a chord
    whatever ``next`` is: its leading group is never unrolled again (``chain(group(group(a)),
    group(b, c))`` is ``chord([a], group(b, c))``)."""
    if len(steps) < 2:
        return list(steps)
    out: list[_Step] = []
    for i, (p, step) in enumerate(steps):
        chorded = isinstance(step, _Header) or (i + 1 < len(steps) and (
            not isinstance(steps[i + 1][1], Group) or (i == 0 and group_led)))
        if isinstance(step, Group) and not chorded:
            p, step = _unroll(p, step)
        out.append((p, step))
    return out


class _HeaderResults(list):  # type: ignore[type-arg]
    """A chord's header results on their way to the body's entry tasks, which record that they
    got them (``Prediction.chord_inputs``); a plain list once a task's args are serialized."""

    def __init__(self, values: list[Json], body: str) -> None:
        super().__init__(values)
        self.body = body


def _same_results(a: Sequence[Json], b: Sequence[Json]) -> bool:
    """The same header results, in any order (compared as JSON)."""
    def dumps(xs: Sequence[Json]) -> list[str]:
        return sorted(json.dumps(x, sort_keys=True) for x in xs)
    return dumps(a) == dumps(b)


class _Evaluator:
    def __init__(self, allow_header_errbacks: bool,
                 header_orders: Mapping[str, Sequence[Json]] | None = None,
                 unordered: bool = False) -> None:
        self.allow_header_errbacks = allow_header_errbacks
        self.header_orders = header_orders or {}
        self.unordered = unordered
        self.entries: dict[str, list[str]] = {}
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
        if not t.immutable and pargs and isinstance(pargs[0], _HeaderResults):
            fed = self.entries.setdefault(pargs[0].body, [])
            if path not in fed:
                fed.append(path)
        args = _roundtrip(list(t.args) if t.immutable else [*pargs, *t.args])
        kwargs = _roundtrip(dict(t.kwargs) if t.immutable else {**t.kwargs, **pkwargs})
        outcome, call = _execute(t.op, args, kwargs)
        self._record(path, call)
        me = frozenset({path})
        if isinstance(outcome, Ok) and t.link is not None:
            self._edges(me, self.run(f"{path}.link", t.link, (outcome.value,), {}).starts)
        if isinstance(outcome, Err):
            own = (_Errback(f"{path}.link_error", t.link_error),) if t.link_error else ()
            self._errbacks(me, own + inherited, _only(outcome.stored), task_id(path))
        return _Res(outcome, me, me)

    def _errbacks(self, after: frozenset[str], errbacks: tuple[_Errback, ...], exc: str,
                  failed_id: str) -> None:
        """Run each errback for one failure; ``failed_id`` marks the failed task's id. A task
        holds each errback signature once (``Signature.append_to_list_option``; the copy that
        ``_chord.link_error`` links to a header, ``clone(immutable=True)``, differs from the
        original only in that option), so one that reaches it twice runs once."""
        seen: set[tuple[str, bool, str | None]] = set()
        for eb in errbacks:
            if (eb.path, eb.immutable, eb.source) in seen:
                continue
            seen.add((eb.path, eb.immutable, eb.source))
            assert isinstance(eb.task, Task)
            self._record(eb.path, _errback_call(eb, exc, failed_id))
            self._edges(after, frozenset({eb.path}))

    def _chord_link(self, path: str, link: Canvas, body_path: str, body: Canvas | _ChordStep
                    | _Steps, body_res: _Res) -> None:
        """``chord.link``: run the callback where ``_link_target`` puts it, once that succeeds."""
        assert not isinstance(body, _ChordStep | _Steps)
        target = _link_target(body_path, body)
        assert target is not None  # check_workload refused the rest
        node, immutable = target
        if not immutable:
            if isinstance(body_res.outcome, Ok):
                self._edges(body_res.ends, self.run(path, link, (body_res.outcome.value,),
                                                    {}).starts)
            return
        ran = self.calls.get(node, [])
        if ran and ran[-1].result is not None and "ok" in ran[-1].result:
            assert isinstance(link, Task)
            self._edges(frozenset({node}), self.run(path, replace(link, immutable=True), (),
                                                    {}).starts)

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
            self.run(p, m, pargs, pkwargs, errbacks + (chord_errbacks if _builds_chord(p, m)
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
            classes = _group_body_classes(header, results, self.unordered)
            self._errbacks(failed_ends, _body_errbacks(body_path, body_canvas, chord_eb, classes),
                           CHORD_ERROR, unknown_task_id(body_path))
            # get() follows parents and re-raises a failed header task's exception (the
            # ``follow_parents`` docs), or raises the body's stored ChordError (the canvas
            # guide's "Error handling" example): both are documented, so both are accepted.
            # Parents are followed recursively, so a failed member's own raised set counts too.
            raised = frozenset({CHORD_ERROR}).union(
                *(r.outcome.stored | r.outcome.raised for r in results if isinstance(r.outcome, Err))
            )
            return _Res(Err(raised, frozenset({CHORD_ERROR})), starts, header_ends)
        values = outcome.value
        given = self.header_orders.get(body_path)
        if given is not None and _same_results(given, values):
            values = _roundtrip(list(given))  # the header's results in the order the body got them
        body_res = self.run(body_path, body_canvas, (_HeaderResults(values, body_path),), {},
                            chord_eb)
        self._edges(header_ends, body_res.starts)
        if spec is not None and spec.link is not None:
            self._chord_link(f"{path}.link", spec.link, body_path, body_canvas, body_res)
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


_Node = Canvas | _ChordStep | _Steps
_Step = tuple[str, _Node]


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
        grouped = as_group(f"{path}.chord.body", step.body) if isinstance(step, Chord) else None
        if grouped is not None and grouped[1].items and j > i + 1:
            assert isinstance(step, Chord)
            body_path, body = grouped
            header = [(f"{path}.chord.header[{k}]", h) for k, h in enumerate(step.header)]
            tail = steps[i + 1] if j == i + 2 else (steps[i + 1][0], _Steps(steps[i + 1:j]))
            out.append((path, _ChordStep(header, (f"{path}.chord.body", _ChordStep(
                list(children(body, body_path)), tail)))))
            i = j
            continue
        out.append((path, step))
        i += 1
    return out


def _upgrade_groups(
    steps: Sequence[_Step],
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
    body_path: str, body: Canvas | _ChordStep | _Steps, linked: tuple[_Errback, ...],
    classes: frozenset[str],
) -> tuple[_Errback, ...]:
    """Errbacks ``chord_error_from_stack`` calls with ChordError: those on the body task."""
    if not isinstance(body, _ChordStep | _Steps) and as_group(body_path, body) is not None:
        # _handle_group_chord_error: each member's _result_errbacks, with the original
        # exception (``_group_body_classes``); a chain that is only a group is that group
        return tuple(replace(e, classes=classes)
                     for e in _result_errbacks(body_path, body, linked))
    if isinstance(body, Chain | _Steps):  # a chain body keeps linked errbacks in its own options
        return linked
    if not isinstance(body, Task):
        return ()
    own = (_Errback(f"{body_path}.link_error", body.link_error),) if body.link_error else ()
    return own + linked


def _group_body_classes(header: list[tuple[str, Canvas]], results: list[_Res],
                        unordered: bool = False) -> frozenset[str]:
    """The exception ``_handle_group_chord_error`` passes a group body's errbacks: the
    ChordError's ``__cause__``, or the ChordError itself. Redis (``on_chord_part_return``):
    with a GroupResult in the header, ``join(propagate=True)`` raises the member's exception,
    wrapped in a ChordError without a cause ("Join error"); otherwise ``_unpack_chord_result``
    raises one caused by the first failed member's stored exception, in header order. Database
    (``unlock_chord``): the cause is what ``join()`` raises for the first failed member. The
    model has no backend: any of these. ``unordered`` (Redis with ``result_chord_ordered``
    off): header results are stored in completion order, so the first failed one is any."""
    failed = [r.outcome for r in results if isinstance(r.outcome, Err)]
    firsts = failed if unordered else failed[:1]
    members: list[tuple[str, Canvas]] = []
    for p, c in header:
        grouped = as_group(p, c)
        members.extend(_unrolled_members(*grouped) if grouped else [(p, c)])
    redis = (frozenset({CHORD_ERROR}) if any(result_is_group(p, c) for p, c in members)
             else frozenset().union(*(f.stored for f in firsts)))
    return redis.union(*(f.raised for f in firsts))


def _result_errbacks(
    path: str, c: Canvas, linked: tuple[_Errback, ...]
) -> list[_Errback]:
    """``celery.backends.base._result_errbacks``: a chord's are its body's, a group collects
    its members', a chain has only its own (the linked ones). Each gets the id of the result it
    is collected for (``source``)."""
    if isinstance(c, Task):
        own = [_Errback(f"{path}.link_error", c.link_error)] if c.link_error else []
        return [replace(e, source=path) for e in own + list(linked)]
    grouped = as_group(path, c)
    if grouped is not None:
        return [e for p, m in children(grouped[1], grouped[0])
                for e in _result_errbacks(p, m, linked)]
    if isinstance(c, Chord):
        mine = (_Errback(f"{path}.link_error", c.link_error),) if c.link_error else ()
        return _result_errbacks(f"{path}.chord.body", c.body, mine + linked)
    return [replace(e, source=path) for e in linked]


def _link_target(path: str, body: Canvas) -> tuple[str, bool] | None:
    """Where ``chord.link`` puts a callback, and whether it is made immutable: ``_chord.link``
    links it to the body, a chord body passes it on to its own body, ``group.link`` to its
    first member only, as an immutable clone (so it runs once that member succeeds, whatever
    the others do); a task or a chain keeps it (``_chain.run``: on its last task). None for
    what the model does not follow (a group whose first member is not a task, a chain whose
    result is a group)."""
    if isinstance(body, Chord):
        return _link_target(f"{path}.chord.body", body.body)
    grouped = as_group(path, body)
    if grouped is not None:
        first = next(children(grouped[1], grouped[0]), None)
        return (first[0], True) if first is not None and isinstance(first[1], Task) else None
    if isinstance(body, Chain) and result_is_group(path, body):
        return None
    return path, False


def _only(names: frozenset[str]) -> str:
    return sorted(names)[0]


def _execute(op: str, args: Json, kwargs: Json) -> tuple[Outcome, Call]:
    """One execution of ``op`` on serialized arguments: its outcome, and the call to record."""
    try:
        value = _roundtrip(OPS[op](*args, **kwargs))
    except Exception as exc:  # the op's own failure is the predicted outcome
        name = type(exc).__name__
        return Err(frozenset({name}), frozenset({name})), Call(args, kwargs, {"error": name})
    attempts = args[0] + 1 if op == "retry" else 1
    return Ok(value), Call(args, kwargs, {"ok": value}, attempts)


def _errback_call(eb: _Errback, exc: str, failed_id: str) -> Call:
    """``_call_task_errbacks``: a new-style errback is called inline as ``(request, exc,
    traceback)``; an old-style one is applied as a task, ``group(old).apply_async((request.id,
    ))``, so the failed task's id is prepended to its partial args unless it is immutable."""
    t = eb.task
    assert isinstance(t, Task)
    failed_id = unknown_task_id(eb.source) if eb.source else failed_id
    if t.op in NEW_STYLE_ERRBACKS:
        if eb.classes is not None:
            exc = _only(eb.classes) if len(eb.classes) == 1 else one_of(eb.classes)
        return Call([failed_id, exc], {}, {"ok": exc})
    args = _roundtrip(list(t.args) if t.immutable else [failed_id, *t.args])
    return _execute(t.op, args, _roundtrip(dict(t.kwargs)))[1]


# ---------------------------------------------------------------- validation


def _check_led_by_group(path: str, c: Chain) -> None:
    """A chain led by a group is composed by the ``|`` operators (``_compose_group_led``),
    which raises CanvasError for the shapes the model does not follow."""
    if _led_by_group(path, c) and len(_non_empty(c)) > 1:
        _compose_group_led(path, c)
    items = _non_empty(c)
    for i, item in items if len(items) > 1 else ():
        if isinstance(item, Chain) and _runs_apart(f"{path}.chain{i}", item):
            raise CanvasError(f"{path}.chain{i}", "a chain led by a group that the | operators "
                              "compose apart (a one-member group or a group after a group body), "
                              "nested in a longer chain, is merged by _merge_chain_step; not "
                              "modelled", "lift its steps into the outer chain")


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
        _check_attached_callbacks(chain_steps(path, c))
    elif isinstance(c, Group):
        for i, item in enumerate(c.items):
            _check(item, f"{path}.group[{i}]", n_in, kw_in, w)
    else:
        for i, item in enumerate(c.header):
            _check(item, f"{path}.chord.header[{i}]", n_in, kw_in, w)
        _check(c.body, f"{path}.chord.body", 1, frozenset(), w)
        grouped = as_group(f"{path}.chord.body", c.body)
        if grouped is not None and not _unrolled_members(*grouped):
            raise CanvasError(f"{path}.chord.body", "a chord whose body is an empty group is not "
                              "modelled: get() returns [] at once whatever its header does (the "
                              "empty GroupResult is ready; found by the property test)",
                              "give the body a task")
        if c.link is not None and not isinstance(c.body, Task):
            _check_chord_link(path, c)
        _check_callbacks(c, path, w)


def _check_attached_callbacks(steps: Sequence[tuple[str, Canvas]]) -> None:
    """A chord with a link or link_error whose body is a group, followed by a task in a chain:
    ``chord.__or__`` makes the body ``chord(group, task)``, and the callbacks stay on the group's
    members, as header tasks of that chord; not modelled."""
    for (p, step), _ in itertools.pairwise(steps):
        if (isinstance(step, Chord) and (step.link or step.link_error)
                and result_is_group(p, step)):
            raise CanvasError(p, "a link or link_error on a chord whose body is a group, with a "
                              "step after it in a chain (the step is attached to the group "
                              "body), is not modelled", "put the callbacks on the body's tasks")


def _check_chord_link(path: str, c: Chord) -> None:
    """``chord.link`` on a body that is not a task: modelled where ``_link_target`` says where
    Celery puts it, and for a group body only a task, which it runs immutable."""
    target = _link_target(f"{path}.chord.body", c.body)
    if target is None:
        raise CanvasError(path, "link on a chord whose body's result is a group, but for a group "
                          "whose first member is a task, is not modelled",
                          "put the callback on the body's last task instead")
    if target[1] and not isinstance(c.link, Task):
        raise CanvasError(f"{path}.link", "a link on a chord with a group body must be a task "
                          "(group.link runs it immutable on the first member)",
                          "make the link a single task")


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


# ---------------------------------------------------------------- entry point


def predict(workload: Workload, header_orders: Mapping[str, Sequence[Json]] | None = None,
            unordered: bool = False) -> Prediction:
    """Predict the outcome, execution counts, inputs and ordering of a workload.

    ``unordered``: chords may hand their bodies the header's results in any order (the Redis
    backend with ``result_chord_ordered`` off); ``header_orders`` (chord body path -> header
    results) then gives the order a body got, used where it is the same results as predicted,
    so that everything after it is predicted from that order."""
    check_workload(workload)
    ev = _Evaluator(workload.allow_error_cb_on_chord_header, header_orders, unordered)
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
        chord_inputs={body: tuple(fed) for body, fed in ev.entries.items()},
    )
