"""Bounded polls over real processes, shared by the real-process tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(interval)
    return True


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its exit status is left)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def gone(pid: int, timeout: float = 5.0) -> bool:
    return wait_for(lambda: not running(pid), timeout)


def descendants() -> set[int]:
    """Every running process below this one (what a leak would look like)."""
    return {p.pid for p in psutil.Process().children(recursive=True) if running(p.pid)}
