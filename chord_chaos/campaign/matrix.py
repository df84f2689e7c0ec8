"""``chord-chaos matrix``: each canvas on each Celery, one verdict per cell.

Columns are the Celery releases in version order (checkouts and ranges after them, as given),
times each backend; a cell is pass, violation, known (passed only thanks to the register),
unknown or error. A cell whose verdict differs from the one on its left is a flip: where a
release changed what the canvas does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from chord_chaos.campaign.target_runs import Outcome, Target, run_files
from chord_chaos.harness.infra.supervisor import signal_name


@dataclass(frozen=True)
class Column:
    target: Target
    backend: str

    @property
    def name(self) -> str:
        return self.target.label if self.backend == "redis" else f"{self.target.label}/{self.backend}"


@dataclass
class Matrix:
    files: list[str]
    columns: list[Column]
    cells: dict[tuple[str, int], Outcome] = field(default_factory=dict)
    elapsed: float = 0.0
    interrupted: str = ""

    def row(self, file: str) -> list[Outcome | None]:
        return [self.cells.get((file, i)) for i in range(len(self.columns))]

    def flips(self, file: str) -> list[int]:
        """Columns whose verdict differs from the column on their left (same backend)."""
        row = self.row(file)
        out = []
        for i in range(1, len(row)):
            left = next((j for j in range(i - 1, -1, -1)
                         if self.columns[j].backend == self.columns[i].backend), None)
            a, b = (row[left] if left is not None else None), row[i]
            if a is not None and b is not None and a.cell != b.cell:
                out.append(i)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [{"name": c.name, "backend": c.backend, **c.target.provenance} for c in self.columns],
            "rows": [{"file": f, "flips": [self.columns[i].name for i in self.flips(f)],
                      "cells": [None if o is None else {"verdict": o.cell, "detail": o.summary,
                                                        "report": o.line.get("report")}
                                for o in self.row(f)]} for f in self.files],
            "elapsed": round(self.elapsed, 1), "interrupted": self.interrupted or None,
        }

    def table(self) -> str:
        names = [Path(f).stem for f in self.files]
        width = max([len("canvas"), *map(len, names)])
        cols = [max(len(c.name) + 1, 11) for c in self.columns]
        def line(first: str, cells: list[str]) -> str:
            return "  ".join([f"{first:<{width}}", *(f"{c:<{w}}" for c, w in zip(cells, cols, strict=True))])

        lines = [line("canvas", [f" {c.name}" for c in self.columns])]
        for f, name in zip(self.files, names, strict=True):
            flips = set(self.flips(f))
            lines.append(line(name, [("*" if i in flips else " ") + (o.cell if o else "-")
                                     for i, o in enumerate(self.row(f))]))
        return "\n".join(lines)


def order_targets(targets: list[Target]) -> list[Target]:
    """Releases in version order, then the rest (checkouts, ranges) as given."""
    def key(t: Target) -> Version | None:
        if t.spec.kind == "checkout":
            return None
        try:
            return Version(t.env.version)
        except InvalidVersion:
            return None
    releases = sorted((t for t in targets if key(t) is not None), key=lambda t: key(t) or Version("0"))
    return releases + [t for t in targets if key(t) is None]


def run_matrix(files: list[str], targets: list[Target], backends: list[str], timeout: float, out: Path,
               config: str | None = None, strict: bool = False,
               on_column: Callable[[Column, list[Outcome]], None] | None = None) -> Matrix:
    """Every file on every (Celery, backend): one ``chord-chaos run`` per column. Ctrl-C keeps
    what finished (``interrupted``)."""
    columns = [Column(t, b) for b in backends for t in order_targets(targets)]
    columns.sort(key=lambda c: backends.index(c.backend))
    matrix = Matrix(files, columns)
    t0 = time.monotonic()
    try:
        for i, column in enumerate(columns):
            where = out / column.name.replace("/", "-")
            outcomes = run_files(column.target, files, column.backend, timeout, where, config, strict)
            for o in outcomes:
                matrix.cells[(o.file, i)] = o
            if on_column is not None:
                on_column(column, outcomes)
    except KeyboardInterrupt as stop:
        matrix.interrupted = signal_name(stop)
    matrix.elapsed = time.monotonic() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "matrix.json").write_text(json.dumps(matrix.to_json(), indent=1), encoding="utf-8")
    return matrix
