"""The words every layer shares, each defined once: brokers, backends, delivery configurations, fault
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

# A backend as the command line names it: ``postgres`` is the database backend (the same
# ``chord_unlock`` semantics as SQLite) on a PostgreSQL server the harness runs itself.
POSTGRES = "postgres"
BACKEND_CHOICES: tuple[str, ...] = (*(b.value for b in BACKENDS), POSTGRES)


def backend_of(choice: str) -> Backend:
    """The result backend's semantics behind a command line's choice."""
    return Backend.DATABASE if choice == POSTGRES else Backend(choice)


class Broker(StrEnum):
    """Where task messages wait: a Redis server (kombu's Redis transport puts an unacknowledged
    message back after the visibility timeout) or a RabbitMQ node (AMQP requeues it as soon as
    the consumer's channel or connection closes)."""

    REDIS = "redis"
    RABBITMQ = "rabbitmq"


BROKERS: tuple[Broker, ...] = tuple(Broker)
BROKER_VAR = "CC_BROKER"  # carries --broker to every cluster of a command and its child processes


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
    KILL_RABBITMQ = "kill_rabbitmq"
    RESTART_RABBITMQ = "restart_rabbitmq"
    RESTART_POSTGRES = "restart_postgres"


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
    REDELIVERY = "redelivery"


class VerdictKind(StrEnum):
    """A run's verdict: a crash of the harness or the checker is ``unknown``, never a pass."""

    PASS = "pass"
    VIOLATION = "violation"
    UNKNOWN = "unknown"
