"""The op vocabulary: pure functions shared by the model and the real worker tasks.

The ops mirror those of Celery's own canvas integration tests (``t/integration/tasks.py``)
so that their expectations carry over. The worker task for an op calls the very same
function, so the model and Celery can only disagree about *canvas* semantics, never
about what an op computes. Side effects (sleeping, retrying) are the worker's job; here
they only validate their arguments the same way the worker does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

MAX_SLEEP_SECONDS = 30.0
MAX_RETRIES = 5


class ExpectedException(Exception):
    """Raised by ``fail``: the only exception a well-formed canvas raises on purpose."""


def identity(x: Any) -> Any:
    return x


def add(x: Any, y: Any, z: Any = None) -> Any:
    """x + y [+ z]: numbers add, lists and strings concatenate."""
    return x + y if z is None else x + y + z


def mul(x: Any, y: Any) -> Any:
    return x * y


def tsum(nums: Any) -> Any:
    return sum(nums)


def xsum(nums: Any) -> Any:
    """Sum of numbers and of the sums of nested lists (one level), as in Celery's tests."""
    return sum(sum(n) if isinstance(n, list) else n for n in nums)


def fail(*args: Any) -> Any:
    raise ExpectedException("Task expected to fail", *args)


def sleep(seconds: Any, value: Any = None) -> Any:
    """Returns value; the worker sleeps ``seconds`` first."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"sleep seconds must be a number, got {type(seconds).__name__}")
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:
        raise ValueError(f"sleep seconds must be within [0, {MAX_SLEEP_SECONDS}]")
    return value


def retry(times: Any, value: Any) -> Any:
    """Returns value; the worker retries ``times`` times before returning it."""
    if isinstance(times, bool) or not isinstance(times, int):
        raise TypeError(f"retry times must be an integer, got {type(times).__name__}")
    if not 0 <= times <= MAX_RETRIES:
        raise ValueError(f"retry times must be within [0, {MAX_RETRIES}]")
    return value


def tag(*args: Any) -> Any:
    """Returns its arguments as a list. Give each tag a distinct label argument: any
    loss, duplication or reordering of inputs then changes the final value."""
    return list(args)


def log_error(request: Any, exc: Any, traceback: Any) -> Any:
    """New-style errback ``(request, exc, traceback)``: the failed task's exception class name.

    In the model ``exc`` is already the class name; on a worker it is the exception.
    """
    return exc if isinstance(exc, str) else type(exc).__name__


OPS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (identity, add, mul, tsum, xsum, fail, sleep, retry, tag, log_error)
}

# Ops Celery calls as new-style errbacks (request, exc, traceback): run inline, no message.
NEW_STYLE_ERRBACKS = frozenset({"log_error"})


def arity_error(op: str, n_args: int, kwarg_names: list[str]) -> str | None:
    """Why calling ``op`` with n positional args and these kwargs would be a TypeError."""
    try:
        inspect.signature(OPS[op]).bind(*range(n_args), **dict.fromkeys(kwarg_names))
    except TypeError as exc:
        return str(exc)
    return None
