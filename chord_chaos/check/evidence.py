"""Evidence the known-issues register reads from a run: what the client awaited, which nodes
retried, when a process was killed, and what the model predicts with a deviation applied.

Each register entry recognises its bug by its mechanism, at the nodes where it shows; these
are the facts it is recognised by, taken from the history (ledger, nemesis records, stored
states) and the model, never from the canvas's shape alone.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from chord_chaos.check.events import Event
from chord_chaos.check.exact import (
    Violation,
    check_executions,
    check_inputs,
    check_outcome,
    check_results,
)
from chord_chaos.check.history import History
from chord_chaos.models.canvas import (
    Canvas,
    Chain,
    Chord,
    Group,
    Task,
    children,
    parse_workload,
    task_ids,
    walk,
)
from chord_chaos.models.semantics import Prediction, as_group, predict, prepared_steps

MAX_REVERSED = 6  # nested groups whose reversal subsets are all tried (2**6 predictions at most)


def canvas_of(history: History) -> Canvas:
    return parse_workload(history.workload).canvas


def awaited(canvas: Canvas, path: str = "$") -> set[str]:
    """Paths of the nodes whose results ``get()`` on this canvas waits for: a chain's last
    step, every member of a group, a chord's body (composites included, with their tasks)."""
    found = {path}
    grouped = as_group(path, canvas)
    if grouped is not None:
        found.add(grouped[0])  # a chain that folds to its group awaits that group
        for p, m in children(grouped[1], grouped[0]):
            found |= awaited(m, p)
    elif isinstance(canvas, Chain):
        last_path, last = prepared_steps(path, canvas)[-1]
        if isinstance(last, Task | Chain | Group | Chord):
            found |= awaited(last, last_path)
        else:
            found.add(last_path)
    elif isinstance(canvas, Chord):
        found |= awaited(canvas.body, f"{path}.chord.body")
    return found


def inside(node: str, root: str) -> bool:
    """Whether ``node`` is ``root`` or lies under it."""
    return node == root or node.startswith((f"{root}.", f"{root}["))


def rerooted(node: str, root: str) -> str | None:
    """A node's id as if ``root`` were the canvas (None for a node outside it)."""
    return "$" + node[len(root):] if inside(node, root) else None


def retried(events: tuple[Event, ...]) -> set[str]:
    """Nodes with an attempt that ended in a retry."""
    return {e.node for e in events if e.kind == "end" and "retry" in (e.outcome or {})}


def final_ok(events: tuple[Event, ...], node: str) -> Event | None:
    """The end event of the node's attempt that returned a value, if one did."""
    return next((e for e in events if e.kind == "end" and e.node == node
                 and "ok" in (e.outcome or {})), None)


def seconds_into_run(history: History, mono_ns: int) -> float:
    """A ledger time as seconds after the run's submission (the nemesis's clock)."""
    return (mono_ns - int(history.meta.get("t0_mono_ns", 0))) / 1e9


def real_kills(history: History, kind: str = "kill_child") -> Iterator[tuple[Any, float]]:
    """(what, seconds into the run) of every kill the nemesis really made: the pid of each pool
    process (``kill_child``), or the name of each worker (``kill_worker``)."""
    for rec in history.nemesis:
        if (rec.get("kind") == kind and rec.get("applied") is not None
                and not rec.get("error") and not rec.get("note")):
            for target in rec.get("resolved") or []:
                what = int(str(target).rpartition(":")[2]) if kind == "kill_child" else str(target)
                yield what, float(rec["applied"])


def downstream(p: Prediction, roots: set[str], canvas: Canvas | None = None) -> set[str]:
    """Every node the prediction orders after one of ``roots``, and the roots; with the canvas,
    also every task of a chain's later steps (the prediction keeps no order edge into a node
    that runs more than once, a retried task)."""
    after: dict[str, set[str]] = {}
    for before, later in p.happens_before:
        after.setdefault(before, set()).add(later)
    for path, node in walk(canvas) if canvas is not None else ():
        if isinstance(node, Chain):
            steps = [(sp, task_ids(step)) for sp, step in children(node, path)]
            for i, (sp, tasks) in enumerate(steps):
                following = {f"{lp}{t[1:]}" for lp, ts in steps[i + 1:] for t in ts}
                for t in tasks:
                    after.setdefault(f"{sp}{t[1:]}", set()).update(following)
    seen, todo = set(roots), list(roots)
    while todo:
        for nxt in after.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# ---------------------------------------------------------------- a reversal, applied to the model


def nested_groups(canvas: Canvas) -> list[str]:
    """Paths of multi-member groups (or chains that fold to one) that are members of a group
    or of a chord header: the groups whose results Celery yields reversed."""
    found = []
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
                found.append(g[0])
    return found


def _locate(obj: Any, path: str) -> Any:
    """The JSON object of the canvas node at ``path`` (the model's node ids)."""
    for step in path.removeprefix("$").replace("[", ".[").split("."):
        if not step:
            continue
        obj = obj[int(step[1:-1])] if step.startswith("[") else obj[step]
    return obj


def _reversed_workload(workload: dict[str, Any], groups: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(workload)
    for g in sorted(groups, key=len, reverse=True):  # inner groups first: outer paths stay valid
        _locate(out["canvas"], g)["group"].reverse()
    return out


def _map_node(node: str, groups: tuple[str, ...], sizes: dict[str, int]) -> str:
    """A node id in the original canvas -> its id once ``groups`` are reversed."""
    for g in sorted(groups, key=len, reverse=True):
        prefix = f"{g}.group["
        if node.startswith(prefix):
            index, _, rest = node[len(prefix):].partition("]")
            node = f"{prefix}{sizes[g] - 1 - int(index)}]{rest}"
    return node


Check = Callable[[Prediction, History], list[Violation]]
VALUE_CHECKS: tuple[Check, ...] = (check_outcome, check_inputs, check_results)
NODE_CHECKS: tuple[Check, ...] = (check_executions, check_inputs, check_results)


def still_found(variant: Prediction, history: History, rename: Callable[[str], str | None],
                checks: Sequence[Check]) -> set[tuple[str, str | None]]:
    """(check, node) of what ``checks`` still find when the run is judged against ``variant``,
    the model with a deviation applied, its events renamed to the variant's node ids (an event
    renamed to None is left out). A violation not among them is what that deviation explains."""
    events = tuple(replace(e, node=new) for e in history.events
                   if (new := rename(e.node)) is not None)
    renamed = replace(history, events=events)
    return {(v.check, v.node) for c in checks for v in c(variant, renamed)}


def reversal_explains(violations: list[Violation], history: History) -> list[bool]:
    """For each violation (of outcome, inputs or results), whether some reversal of nested groups'
    result order makes the model predict exactly what was observed at that node."""
    canvas = canvas_of(history)
    groups = nested_groups(canvas)
    wanted = [v.check in ("outcome", "inputs", "results") for v in violations]
    if not groups or not any(wanted):
        return [False] * len(violations)
    nodes = dict(walk(canvas))
    sizes = {g: len(_group_items(nodes[g])) for g in groups}
    explained = [False] * len(violations)
    for subset in _subsets(groups):
        variant = predict(parse_workload(_reversed_workload(history.workload, subset)))
        left = still_found(variant, history, partial(_map_node, groups=subset, sizes=sizes),
                           VALUE_CHECKS)
        for i, v in enumerate(violations):
            node = _map_node(v.node, subset, sizes) if v.node else None
            if wanted[i] and (v.check, node) not in left:
                explained[i] = True
        if all(e or not w for e, w in zip(explained, wanted, strict=True)):
            break
    return explained


def _group_items(node: Canvas) -> tuple[Canvas, ...]:
    return node.items if isinstance(node, Group) else ()


def _subsets(groups: list[str]) -> Iterator[tuple[str, ...]]:
    if len(groups) > MAX_REVERSED:
        yield tuple(groups)
        yield from ((g,) for g in groups)
        return
    for n in range(1, len(groups) + 1):
        yield from itertools.combinations(groups, n)
