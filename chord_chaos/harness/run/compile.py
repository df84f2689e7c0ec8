"""Spec -> real Celery signature: the only place that maps the two.

Every task signature carries the reserved keyword ``cc = {"run": run_id, "node": node_id}``
so the ledger can say which canvas node each execution was. Chains, groups and chords are
built with Celery's own constructors (``chain(...)``, ``group([...])``, ``chord(...)``), so
Celery applies its own rewriting (group unrolling, chord upgrades) exactly as in user code.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, chain, chord, group

from chord_chaos.models.canvas import Canvas, Chain, Group, Task, Workload


def compile_canvas(app: Celery, canvas: Canvas, run_id: str, path: str = "$") -> Any:
    """Build the Celery signature for ``canvas`` (node ids relative to ``path``)."""
    if isinstance(canvas, Task):
        sig = app.signature(
            f"cc.{canvas.op}",
            args=tuple(canvas.args),
            kwargs={**canvas.kwargs, "cc": {"run": run_id, "node": path}},
            immutable=canvas.immutable,
        )
    elif isinstance(canvas, Chain):
        items = [compile_canvas(app, c, run_id, f"{path}.chain[{i}]")
                 for i, c in enumerate(canvas.items)]
        # The list form, without keyword arguments, is the one that goes through Celery's
        # chain folding (unrolling one-member groups, upgrading group | task to a chord).
        return chain(items)
    elif isinstance(canvas, Group):
        return group(
            [compile_canvas(app, c, run_id, f"{path}.group[{i}]")
             for i, c in enumerate(canvas.items)],
            app=app,
        )
    else:
        header = [compile_canvas(app, c, run_id, f"{path}.chord.header[{i}]")
                  for i, c in enumerate(canvas.header)]
        body = compile_canvas(app, canvas.body, run_id, f"{path}.chord.body")
        sig = chord(header, body, app=app)
    if canvas.link is not None:
        sig.link(compile_canvas(app, canvas.link, run_id, f"{path}.link"))
    if canvas.link_error is not None:
        sig.link_error(compile_canvas(app, canvas.link_error, run_id, f"{path}.link_error"))
    return sig


def compile_workload(app: Celery, workload: Workload, run_id: str) -> Any:
    """The signature to ``apply_async(workload.args, workload.kwargs)``, under its config."""
    app.conf.task_allow_error_cb_on_chord_header = workload.allow_error_cb_on_chord_header
    return compile_canvas(app, workload.canvas, run_id)
