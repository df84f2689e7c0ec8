"""What a campaign shows while it runs and when it ends: a live table on a terminal, one line
per run otherwise (CI logs), and a summary table at the end."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from chord_chaos.campaign.summary import Tally
from chord_chaos.check.result import RunResult

COLUMNS = ("scenario", "backend", "delivery", "runs", "faults", "landed", "pass", "violations",
           "known", "anomalies", "unknown", "s")


def _row(t: Tally) -> list[str]:
    hit, applied = t.effectiveness()
    landed = f"{hit}/{applied}" if applied else "-"
    return [t.scenario, t.backend, t.delivery, str(t.runs), str(t.faults), landed, str(t.passed),
            str(t.violations), str(t.known), str(t.anomalies), str(t.unknown), f"{t.seconds:.0f}"]


def table(tallies: list[Tally], title: str) -> Table:
    out = Table(title=title, title_justify="left")
    for c in COLUMNS:
        out.add_column(c, justify="left" if c in ("scenario", "backend", "delivery") else "right")
    for t in tallies:
        out.add_row(*_row(t), style="bold red" if t.violations else ("yellow" if t.unknown else None))
    return out


class Progress:
    """``on_run`` for Campaign; a context manager that owns the live display."""

    def __init__(self, budget: float, stream: TextIO | None = None, plain: bool = False,
                 every: float = 0.0) -> None:
        stream = stream or sys.stderr  # looked up now: a test may have replaced it since import
        self.console = Console(file=stream, stderr=stream is sys.stderr)
        self.plain = plain
        self.every = every  # plain lines: one per run, or a count at most this often (fuzz)
        self.last_line = 0.0
        self.budget = budget
        self.t0 = time.monotonic()
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.live: Live | None = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal and not self.plain:
            self.live = Live(self._table(), console=self.console, refresh_per_second=2, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def _table(self) -> Table:
        elapsed = time.monotonic() - self.t0
        return table(list(self.tallies.values()), f"chord-chaos campaign: {elapsed:.0f} s of "
                                                  f"{self.budget:.0f} s")

    def on_run(self, tally: Tally, result: RunResult) -> None:
        self.tallies[(tally.scenario, tally.backend)] = tally
        if self.live is not None:
            self.live.update(self._table())
            return
        v = result.verdict
        if self.every and v.verdict == "pass":
            now = time.monotonic()
            if now - self.last_line >= self.every:
                self.last_line = now
                rate = tally.runs / max(tally.seconds, 1e-9)
                self.console.print(f"[{now - self.t0:5.0f}s] {tally.scenario}/{tally.backend}: "
                                   f"{tally.runs} canvases checked ({rate:.0f}/s), "
                                   f"{tally.violations} violations, {tally.known} with known issues",
                                   highlight=False, soft_wrap=True)
            return
        kinds = ",".join(f"{x.kind}:{x.outcome}" for x in v.landings) or ",".join(
            f["kind"] for f in result.history.faults.get("faults", [])) or "none"
        extra = "; ".join(x.message for x in v.violations) or "; ".join(v.reasons) or v.settings_note()
        self.console.print(f"[{time.monotonic() - self.t0:5.0f}s] {tally.scenario}/{tally.backend} "
                           f"#{tally.runs} faults={kinds} {v.verdict}"
                           f"{' anomalies=' + str(len(v.anomalies)) if v.anomalies else ''}"
                           f"{' known=' + ','.join(sorted({k for k, _ in v.known})) if v.known else ''}"
                           f"{': ' + extra[:200] if extra else ''}", highlight=False, soft_wrap=True)


def print_table(tallies: list[Tally], title: str) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a CI log: no terminal to size the table by
    console.print(table(tallies, title))
