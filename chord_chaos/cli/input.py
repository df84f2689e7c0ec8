"""What every command shares: exit codes, the one-line usage error, and loading input files."""

from __future__ import annotations

import signal
from pathlib import Path

from chord_chaos.models.canvas import CanvasError, Workload, loads_workload
from chord_chaos.models.faults import FaultPlan, PlanError, loads_plan
from chord_chaos.models.semantics import predict

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_SELF_CHECK = 4  # the campaign ran, but its chaos did not land: it tested too little
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for Ctrl-C


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def exit_for_signal(name: str) -> int:
    """128 + N for the signal that stopped a command early (``SIGTERM`` -> 143)."""
    try:
        return 128 + signal.Signals[name].value
    except KeyError:
        return EXIT_INTERRUPTED


def exit_for(verdict: str) -> int:
    return {"pass": EXIT_OK, "violation": EXIT_VIOLATION}.get(verdict, EXIT_UNKNOWN)


def load_file(path: str) -> Workload:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give the path of a canvas JSON file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc.__class__.__name__}); "
                         "give a UTF-8 canvas JSON file") from None
    try:
        workload = loads_workload(text, source=path)
        predict(workload)  # validates arity and modelled shapes before anything runs
    except CanvasError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return workload


def load_plan(path: str) -> FaultPlan:
    try:
        return loads_plan(Path(path).read_text(encoding="utf-8"), source=path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give the path of a fault plan JSON file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc.__class__.__name__}); give a fault plan JSON "
                         "file") from None
    except PlanError as exc:
        raise UsageError(str(exc)) from None
