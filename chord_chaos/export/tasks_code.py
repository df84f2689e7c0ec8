"""``tasks.py``: the ops a case uses, as plain Celery tasks with no ledger and no latch.

Each task computes what ``models/ops.py`` computes (a test runs both on the same arguments), and
does what the harness's worker adds around the op: ``sleep`` sleeps and ``retry`` retries with
``countdown=0``. They are ``shared_task``s, so they join the app that ``repro.py`` configures.
"""

from __future__ import annotations

HEADER = '''"""Plain Celery tasks with the behaviour of chord-chaos's ops (exported by chord-chaos)."""

import time

from celery import shared_task


class ExpectedException(Exception):
    """Raised by fail: the only exception the canvas raises on purpose."""
'''

TASKS: dict[str, str] = {
    "identity": "@shared_task\ndef identity(x):\n    return x\n",
    "add": ('@shared_task\ndef add(x, y, z=None):\n    """x + y [+ z]: numbers add, lists and strings '
            'concatenate."""\n    return x + y if z is None else x + y + z\n'),
    "mul": "@shared_task\ndef mul(x, y):\n    return x * y\n",
    "tsum": "@shared_task\ndef tsum(nums):\n    return sum(nums)\n",
    "xsum": ('@shared_task\ndef xsum(nums):\n    """Sum of numbers and of the sums of nested lists '
             '(one level)."""\n    return sum(sum(n) if isinstance(n, list) else n for n in nums)\n'),
    "fail": ('@shared_task\ndef fail(*args):\n    raise ExpectedException("Task expected to fail", '
             '*args)\n'),
    "sleep": ("@shared_task\ndef sleep(seconds, value=None):\n    time.sleep(seconds)\n"
              "    return value\n"),
    "retry": ('@shared_task(bind=True)\ndef retry(self, times, value):\n    """Retries `times` times, '
              'then returns value."""\n    if self.request.retries < times:\n'
              "        raise self.retry(countdown=0, max_retries=times)\n    return value\n"),
    "tag": ('@shared_task\ndef tag(*args):\n    """Its arguments as a list: a lost, duplicated or '
            'reordered input changes the result."""\n    return list(args)\n'),
    "log_error": ('@shared_task\ndef log_error(request, exc, traceback):\n    """A new-style errback '
                  '(Celery calls it inline): the failed task\'s exception class name."""\n'
                  "    return type(exc).__name__\n"),
}


def tasks_py(ops: set[str]) -> str:
    """The module defining these ops (and ``ExpectedException``), in a stable order."""
    unknown = ops - set(TASKS)
    if unknown:
        raise ValueError(f"no plain task for op(s) {', '.join(sorted(unknown))}")
    return HEADER + "".join(f"\n\n{TASKS[op]}" for op in TASKS if op in ops)
