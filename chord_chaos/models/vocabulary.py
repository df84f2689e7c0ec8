"""The words every layer shares, each defined once: backends, delivery configurations, fault
kinds, check names and verdicts. ``StrEnum`` members are their strings, so JSON, command lines
and older reports read and write them unchanged; mypy catches a misspelt member."""

from __future__ import annotations

from enum import StrEnum


class Backend(StrEnum):
    """Where results are stored: a Redis server (native chord join) or a database
    (``chord_unlock`` polling; SQLite unless a URL is given)."""

    REDIS = "redis"
    DATABASE = "database"


BACKENDS: tuple[Backend, ...] = tuple(Backend)


class DeliveryName(StrEnum):
    """A delivery configuration (``guarantees.DELIVERIES`` says what each promises)."""

    ACKS_EARLY = "acks-early"
    ACKS_LATE = "acks-late"
    ACKS_LATE_REJECT = "acks-late-reject"


class FaultKind(StrEnum):
    """What the nemesis can do (``faults.py`` holds each kind's parameters)."""

    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    SLOW_CLOSE = "slow_close"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    LIMIT_DATA = "limit_data"
    SLICER = "slicer"
    PARTITION = "partition"
    KILL_WORKER = "kill_worker"
    KILL_CHILD = "kill_child"
    TERM_WORKER = "term_worker"
    KILL_REDIS = "kill_redis"
    RESTART_REDIS = "restart_redis"
    PAUSE_REDIS = "pause_redis"


class CheckName(StrEnum):
    """One guarantee checked on a history (``check/exact.py``, ``check/bounded.py``)."""

    LIVENESS = "liveness"
    OUTCOME = "outcome"
    EXECUTIONS = "executions"
    UNFINISHED = "unfinished"
    INPUTS = "inputs"
    RESULTS = "results"
    ORDER = "order"
    WORKER_EXIT = "worker-exit"


class VerdictKind(StrEnum):
    """A run's verdict: a crash of the harness or the checker is ``unknown``, never a pass."""

    PASS = "pass"
    VIOLATION = "violation"
    UNKNOWN = "unknown"
