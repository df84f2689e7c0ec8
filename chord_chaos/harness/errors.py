"""Infrastructure errors: one line that says what to do; the CLI exits 2 on them."""

from __future__ import annotations


class HarnessError(RuntimeError):
    """The harness could not start or keep its own processes (never a verdict on Celery)."""
