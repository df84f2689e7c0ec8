"""``AsyncResult.get`` bounded for real.

Celery's ``ResultSet.join_native`` waits for a member that is itself a GroupResult with a bare
``get()``: no timeout (noted in the review of celery/celery#10689, open). A nested group member
that never resolves holds ``GroupResult.get(timeout=...)`` for ever, and with it the harness.
An interval timer (SIGALRM) in the main thread, where the runners wait, ends the wait
``GRACE`` s after the timeout Celery was given; the caller sees Celery's own TimeoutError.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout

GRACE = 1.0  # Celery's own timeout fires first whenever it can


class _Overdue(Exception):
    """The timer fired: Celery did not honour the timeout."""


def get_within(result: Any, timeout: float, interval: float = 0.05) -> Any:
    """``result.get(timeout, interval, propagate=True)``, raising Celery's TimeoutError at most
    ``GRACE`` s late even when a nested group member keeps Celery waiting."""
    if threading.current_thread() is not threading.main_thread():
        return result.get(timeout=timeout, interval=interval, propagate=True)

    def overdue(signum: int, frame: FrameType | None) -> None:
        raise _Overdue

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, timeout + GRACE)
    try:
        return result.get(timeout=timeout, interval=interval, propagate=True)
    except _Overdue:
        raise CeleryTimeout(f"a nested group result was still pending {timeout + GRACE:g} s "
                            "after get() (Celery's join_native waits for it without a timeout)"
                            ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
