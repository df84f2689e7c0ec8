"""A canvas as the Celery Python code a user would write, and that code read back.

``to_python`` writes ``chain([...])``, ``group([...])``, ``chord([...], body)``, ``op.s(...)``
and ``op.si(...)``; callbacks go through a three-line helper, ``linked``, that calls
``sig.link``/``sig.link_error`` exactly as chord-chaos applies them (on a chord, Celery moves
them to its body). ``from_python`` reads that code back without running it: a small reader of
the few expression forms ``to_python`` writes (and ``repro.py`` of ``chord-chaos export``, whose
canvas settings are ``app.conf.X = ...`` statements), so the round trip can be checked for every
canvas.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import Any

from chord_chaos.models.canvas import Canvas, CanvasError, Chain, Chord, Group, Task, Workload, walk

INDENT = "    "
LINKED = '''def linked(sig, link=None, link_error=None):
    """sig.link / sig.link_error (on a chord, Celery moves them to its body)."""
    if link is not None:
        sig.link(link)
    if link_error is not None:
        sig.link_error(link_error)
    return sig
'''


def _literal(value: Any) -> str:
    """A JSON value as a Python literal (true -> True, null -> None, lists and dicts as is)."""
    return repr(value)


def _fits(text: str, depth: int) -> bool:
    return len(text) + len(INDENT) * depth <= 96 and "\n" not in text


def _call(name: str, parts: list[str], depth: int) -> str:
    """``name(part, ...)`` on one line when short, else one part per line."""
    flat = f"{name}({', '.join(parts)})"
    if _fits(flat, depth):
        return flat
    return f"{name}(\n" + "".join(f"{INDENT * (depth + 1)}{p},\n" for p in parts) + f"{INDENT * depth})"


def _list(items: list[str], depth: int) -> str:
    flat = f"[{', '.join(items)}]"
    if _fits(flat, depth):
        return flat
    return "[\n" + "".join(f"{INDENT * (depth + 1)}{i},\n" for i in items) + f"{INDENT * depth}]"


def expression(c: Canvas, depth: int = 0) -> str:
    """The Celery expression that builds ``c``."""
    if isinstance(c, Task):
        parts = [_literal(a) for a in c.args] + [f"{k}={_literal(v)}" for k, v in c.kwargs.items()]
        sig = f"{c.op}.{'si' if c.immutable else 's'}({', '.join(parts)})"
    elif isinstance(c, Chain | Group):
        name = "chain" if isinstance(c, Chain) else "group"
        sig = f"{name}({_list([expression(i, depth + 1) for i in c.items], depth)})"
    else:
        header = _list([expression(h, depth + 2) for h in c.header], depth + 1)
        sig = _call("chord", [header, expression(c.body, depth + 1)], depth)
    if isinstance(c, Chain | Group) or (c.link is None and c.link_error is None):
        return sig
    extra = [sig]
    if c.link is not None:
        extra.append(f"link={expression(c.link, depth + 1)}")
    if c.link_error is not None:
        extra.append(f"link_error={expression(c.link_error, depth + 1)}")
    return _call("linked", extra, depth)


def to_python(workload: Workload) -> str:
    """The canvas as Celery code: imports, ``canvas = ...`` and how it is applied."""
    ops = sorted({node.op for _, node in walk(workload.canvas) if isinstance(node, Task)})
    uses_links = any(getattr(node, "link", None) is not None or getattr(node, "link_error", None)
                     is not None for _, node in walk(workload.canvas))
    lines = ["from celery import chain, chord, group", "", f"from tasks import {', '.join(ops)}", ""]
    if uses_links:
        lines += ["", LINKED, ""]
    for key, value in workload.config.items():
        lines.append(f"# app.conf.{key} = {_literal(value)}")
    lines.append(f"canvas = {expression(workload.canvas)}")
    lines.append(f"args = {_literal(tuple(workload.args))}")
    lines.append(f"kwargs = {_literal(dict(workload.kwargs))}")
    lines.append("result = canvas.apply_async(args=args, kwargs=kwargs)")
    return "\n".join(lines) + "\n"


def from_python(code: str) -> Workload:
    """Read back what ``to_python`` wrote; CanvasError for anything else."""
    try:
        module = ast.parse(code)
    except SyntaxError as exc:
        raise CanvasError("<python>", f"not Python ({exc.msg})",
                          "give code written by predict --python") from None
    found: dict[str, ast.expr] = {}
    config = {}
    for stmt in module.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            found[target.id] = stmt.value
        elif isinstance(target, ast.Attribute) and ast.unparse(target.value) == "app.conf":
            config[target.attr] = ast.literal_eval(stmt.value)  # repro.py's canvas settings
    if "canvas" not in found:
        raise CanvasError("<python>", "no `canvas = ...` assignment", "give code written by predict --python")
    for line in code.splitlines():
        if line.startswith("# app.conf.") and " = " in line:
            key, _, value = line.removeprefix("# app.conf.").partition(" = ")
            config[key] = ast.literal_eval(value)
    args = ast.literal_eval(found["args"]) if "args" in found else ()
    kwargs = ast.literal_eval(found["kwargs"]) if "kwargs" in found else {}
    return Workload(_read(found["canvas"]), tuple(args), dict(kwargs), config)


def _read(node: ast.expr) -> Canvas:
    if not isinstance(node, ast.Call):
        raise CanvasError("<python>", f"unexpected {type(node).__name__}", "only signatures and canvases")
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in ("s", "si") and isinstance(func.value, ast.Name):
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {str(k.arg): ast.literal_eval(k.value) for k in node.keywords}
        return Task(func.value.id, args, kwargs, immutable=func.attr == "si")
    if not isinstance(func, ast.Name):
        raise CanvasError("<python>", "unexpected call", "only signatures and canvases")
    if func.id in ("chain", "group"):
        items = node.args[0]
        if not isinstance(items, ast.List):
            raise CanvasError("<python>", f"{func.id} takes a list", "write chain([...]) or group([...])")
        read = tuple(_read(i) for i in items.elts)
        return Chain(read) if func.id == "chain" else Group(read)
    if func.id == "chord":
        header = node.args[0]
        if not isinstance(header, ast.List):
            raise CanvasError("<python>", "chord takes a list header", "write chord([...], body)")
        return Chord(tuple(_read(h) for h in header.elts), _read(node.args[1]))
    if func.id == "linked":
        sig = _read(node.args[0])
        callbacks = {str(k.arg): _read(k.value) for k in node.keywords}
        if isinstance(sig, Task | Chord):
            return replace(sig, link=callbacks.get("link"), link_error=callbacks.get("link_error"))
        raise CanvasError("<python>", "callbacks on a chain or group", "put them on a task or chord")
    raise CanvasError("<python>", f"unknown call {func.id}", "only chain, group, chord, linked and op.s/.si")
