"""Canvas spec: the JSON interchange format of chord-chaos, parsed into typed nodes.

A canvas file is either a CANVAS or a wrapper ``{"canvas": CANVAS, "args": [...],
"kwargs": {...}, "config": {...}}``. Node ids are JSON paths relative to the canvas
root (``$``, ``$.chain[1]``, ``$.chord.header[0]``, ``$.chord.body``, ``$.link_error``),
so a report, a ledger record and an error message all name a node the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chord_chaos.models.ops import OPS

Json = Any

KNOWN_CONFIG: dict[str, type] = {"task_allow_error_cb_on_chord_header": bool}


class CanvasError(ValueError):
    """A canvas that cannot be run; the message names the JSON path and the fix."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        super().__init__(f"{path}: {problem}; {fix}")
        self.path = path


@dataclass(frozen=True)
class Task:
    op: str
    args: tuple[Json, ...] = ()
    kwargs: Mapping[str, Json] = field(default_factory=dict)
    immutable: bool = False
    link: Canvas | None = None
    link_error: Canvas | None = None


@dataclass(frozen=True)
class Chain:
    items: tuple[Canvas, ...]


@dataclass(frozen=True)
class Group:
    items: tuple[Canvas, ...]


@dataclass(frozen=True)
class Chord:
    header: tuple[Canvas, ...]
    body: Canvas
    link: Canvas | None = None
    link_error: Canvas | None = None


Canvas = Task | Chain | Group | Chord


@dataclass(frozen=True)
class Workload:
    """A canvas plus how it is applied: ``canvas.apply_async(args, kwargs)`` under ``config``."""

    canvas: Canvas
    args: tuple[Json, ...] = ()
    kwargs: Mapping[str, Json] = field(default_factory=dict)
    config: Mapping[str, Json] = field(default_factory=dict)

    @property
    def allow_error_cb_on_chord_header(self) -> bool:
        return bool(self.config.get("task_allow_error_cb_on_chord_header", False))


# ---------------------------------------------------------------- parsing


def _expect(cond: bool, path: str, problem: str, fix: str) -> None:
    if not cond:
        raise CanvasError(path, problem, fix)


def _is_json_value(value: Json) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _parse_callbacks(obj: Mapping[str, Json], path: str) -> tuple[Canvas | None, Canvas | None]:
    link = parse_canvas(obj["link"], f"{path}.link") if "link" in obj else None
    err = parse_canvas(obj["link_error"], f"{path}.link_error") if "link_error" in obj else None
    return link, err


def _parse_items(value: Json, path: str, kind: str, allow_empty: bool) -> tuple[Canvas, ...]:
    _expect(
        isinstance(value, list), path, f"{kind} must be a list, got {type(value).__name__}",
        f'write {{"{kind}": [CANVAS, ...]}}',
    )
    _expect(
        allow_empty or len(value) > 0, path, f"empty {kind}",
        f"give the {kind} at least one member",
    )
    return tuple(parse_canvas(item, f"{path}[{i}]") for i, item in enumerate(value))


def _parse_task(obj: Mapping[str, Json], path: str) -> Task:
    allowed = {"task", "args", "kwargs", "immutable", "link", "link_error"}
    extra = sorted(set(obj) - allowed)
    _expect(not extra, path, f"unknown key(s) {extra} in a task", f"use only {sorted(allowed)}")
    op = obj["task"]
    _expect(
        isinstance(op, str) and op in OPS, f"{path}.task", f"unknown op {op!r}",
        f"use one of {sorted(OPS)}",
    )
    args = obj.get("args", [])
    _expect(isinstance(args, list), f"{path}.args", "args must be a list", 'write "args": [...]')
    kwargs = obj.get("kwargs", {})
    _expect(
        isinstance(kwargs, dict), f"{path}.kwargs", "kwargs must be an object",
        'write "kwargs": {...}',
    )
    _expect(
        _is_json_value(args) and _is_json_value(kwargs), path, "arguments are not plain JSON",
        "use numbers, strings, lists, objects, booleans and null",
    )
    immutable = obj.get("immutable", False)
    _expect(
        isinstance(immutable, bool), f"{path}.immutable", "immutable must be true or false",
        'write "immutable": true for .si()',
    )
    link, err = _parse_callbacks(obj, path)
    return Task(op, tuple(args), dict(kwargs), immutable, link, err)


def _parse_chord(obj: Mapping[str, Json], path: str) -> Chord:
    allowed = {"chord", "link", "link_error"}
    extra = sorted(set(obj) - allowed)
    _expect(not extra, path, f"unknown key(s) {extra} beside a chord", f"use only {sorted(allowed)}")
    spec = obj["chord"]
    cpath = f"{path}.chord"
    _expect(
        isinstance(spec, dict), cpath, "chord must be an object",
        'write {"chord": {"header": [...], "body": CANVAS}}',
    )
    _expect("body" in spec, cpath, "chord without body", 'add "body": CANVAS')
    _expect("header" in spec, cpath, "chord without header", 'add "header": [CANVAS, ...]')
    extra = sorted(set(spec) - {"header", "body"})
    _expect(not extra, cpath, f"unknown key(s) {extra} in a chord", 'use only "header" and "body"')
    header = _parse_items(spec["header"], f"{cpath}.header", "header", allow_empty=True)
    body = parse_canvas(spec["body"], f"{cpath}.body")
    link, err = _parse_callbacks(obj, path)
    return Chord(header, body, link, err)


MAX_DEPTH = 32  # nesting levels (a chain step, group member, header member, body, callback)
MAX_TASKS = 500  # tasks in one canvas, callbacks included


def depth_of(path: str) -> int:
    """How many levels below the root a node id lies."""
    return path.count("[") + path.count(".body") + path.count(".link")


def parse_canvas(obj: Json, path: str = "$") -> Canvas:
    """Parse one canvas node; raise CanvasError naming the JSON path on bad input."""
    _expect(depth_of(path) <= MAX_DEPTH, path if len(path) < 120 else f"{path[:117]}...",
            f"nested deeper than {MAX_DEPTH} levels", "flatten the canvas (README: limits)")
    _expect(
        isinstance(obj, dict), path, f"expected a canvas object, got {type(obj).__name__}",
        'write {"task": ...}, {"chain": [...]}, {"group": [...]} or {"chord": {...}}',
    )
    kinds = [k for k in ("task", "chain", "group", "chord") if k in obj]
    _expect(
        len(kinds) == 1, path, f"a canvas needs exactly one of task/chain/group/chord, got {kinds}",
        "split it into separate nodes",
    )
    kind = kinds[0]
    if kind == "task":
        return _parse_task(obj, path)
    if kind == "chord":
        return _parse_chord(obj, path)
    extra = sorted(set(obj) - {kind})
    _expect(
        not extra, path, f"unknown key(s) {extra} beside a {kind}",
        "link and link_error belong on tasks and chords",
    )
    items = _parse_items(obj[kind], f"{path}.{kind}", kind, allow_empty=(kind == "group"))
    return Chain(items) if kind == "chain" else Group(items)


def parse_workload(obj: Json) -> Workload:
    """Parse a canvas file's JSON (a bare canvas or the ``{"canvas": ...}`` wrapper)."""
    _expect(isinstance(obj, dict), "$", "a canvas file holds a JSON object", "see README: canvas format")
    if "canvas" in obj:
        extra = sorted(set(obj) - {"canvas", "args", "kwargs", "config"})
        _expect(not extra, "$", f"unknown key(s) {extra}", 'use "canvas", "args", "kwargs", "config"')
        canvas = parse_canvas(obj["canvas"], "$.canvas")
        args = obj.get("args", [])
        kwargs = obj.get("kwargs", {})
        _expect(isinstance(args, list), "$.args", "args must be a list", 'write "args": [...]')
        _expect(isinstance(kwargs, dict), "$.kwargs", "kwargs must be an object", 'write "kwargs": {}')
    else:
        bare = {k: v for k, v in obj.items() if k != "config"}
        canvas = parse_canvas(bare, "$")
        args, kwargs = [], {}
    config = obj.get("config", {})
    _expect(isinstance(config, dict), "$.config", "config must be an object", 'write "config": {}')
    for key, value in config.items():
        _expect(
            key in KNOWN_CONFIG, f"$.config.{key}", "unknown config setting",
            f"use one of {sorted(KNOWN_CONFIG)}",
        )
        _expect(
            isinstance(value, KNOWN_CONFIG[key]), f"$.config.{key}",
            f"expected {KNOWN_CONFIG[key].__name__}", "fix the value",
        )
    tasks = size(canvas)
    _expect(tasks <= MAX_TASKS, "$", f"{tasks} tasks, more than the {MAX_TASKS} a canvas may have",
            "split it into smaller canvases (README: limits)")
    return Workload(canvas, tuple(args), dict(kwargs), dict(config))


def loads_workload(text: str, source: str = "<input>") -> Workload:
    """Parse canvas-file text; invalid JSON becomes a CanvasError with line and column."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CanvasError(
            f"{source}:{exc.lineno}:{exc.colno}", f"invalid JSON ({exc.msg})", "fix the JSON syntax"
        ) from None
    except RecursionError:
        raise CanvasError(source, "JSON nested too deeply to read",
                          f"a canvas has at most {MAX_DEPTH} levels (README: limits)") from None
    return parse_workload(obj)


# ---------------------------------------------------------------- serialising


def canvas_to_json(canvas: Canvas) -> Json:
    """Inverse of parse_canvas: the canonical JSON form (defaults omitted)."""
    out: dict[str, Json]
    if isinstance(canvas, Task):
        out = {"task": canvas.op}
        if canvas.args:
            out["args"] = list(canvas.args)
        if canvas.kwargs:
            out["kwargs"] = dict(canvas.kwargs)
        if canvas.immutable:
            out["immutable"] = True
    elif isinstance(canvas, Chain):
        return {"chain": [canvas_to_json(c) for c in canvas.items]}
    elif isinstance(canvas, Group):
        return {"group": [canvas_to_json(c) for c in canvas.items]}
    else:
        out = {"chord": {"header": [canvas_to_json(c) for c in canvas.header],
                         "body": canvas_to_json(canvas.body)}}
    if canvas.link is not None:
        out["link"] = canvas_to_json(canvas.link)
    if canvas.link_error is not None:
        out["link_error"] = canvas_to_json(canvas.link_error)
    return out


def workload_to_json(workload: Workload) -> Json:
    out: dict[str, Json] = {"canvas": canvas_to_json(workload.canvas)}
    if workload.args:
        out["args"] = list(workload.args)
    if workload.kwargs:
        out["kwargs"] = dict(workload.kwargs)
    if workload.config:
        out["config"] = dict(workload.config)
    return out


# ---------------------------------------------------------------- traversal


def children(canvas: Canvas, path: str) -> Iterator[tuple[str, Canvas]]:
    """The direct sub-canvases of a node with their node ids, in document order."""
    if isinstance(canvas, Chain):
        for i, c in enumerate(canvas.items):
            yield f"{path}.chain[{i}]", c
    elif isinstance(canvas, Group):
        for i, c in enumerate(canvas.items):
            yield f"{path}.group[{i}]", c
    elif isinstance(canvas, Chord):
        for i, c in enumerate(canvas.header):
            yield f"{path}.chord.header[{i}]", c
        yield f"{path}.chord.body", canvas.body
    if isinstance(canvas, Task | Chord):
        if canvas.link is not None:
            yield f"{path}.link", canvas.link
        if canvas.link_error is not None:
            yield f"{path}.link_error", canvas.link_error


def walk(canvas: Canvas, path: str = "$") -> Iterator[tuple[str, Canvas]]:
    """Every node with its id, pre-order."""
    yield path, canvas
    for sub_path, sub in children(canvas, path):
        yield from walk(sub, sub_path)


def task_ids(canvas: Canvas) -> list[str]:
    """Ids of every task node: the things that execute and that the ledger records."""
    return [p for p, c in walk(canvas) if isinstance(c, Task)]


def uses_op(canvas: Canvas, op: str) -> bool:
    """Whether any task of the canvas (callbacks included) runs ``op``."""
    return any(isinstance(c, Task) and c.op == op for _, c in walk(canvas))


def size(canvas: Canvas) -> int:
    return len(task_ids(canvas))
