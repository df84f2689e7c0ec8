"""Infrastructure errors: one line that says what to do; the CLI exits 2 on them."""

from __future__ import annotations


class HarnessError(RuntimeError):
    """The harness could not start or keep its own processes (never a verdict on Celery)."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut at ``limit``: how errors reach histories and reports."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:limit]
