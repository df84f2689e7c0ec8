"""What Celery promises, per broker, delivery configuration and fault class: the checker's
contract.

Safety is checked under every configuration and fault: a task never runs with an input the
model does not predict (a chord body with missing, extra or reordered header results), never
starts before what must finish first (a body before its header), and ``get()`` never returns
a value other than the predicted one. The properties below are the ones Celery promises only
sometimes; where a cell says "not promised", a deviation is an *anomaly*: counted and shown,
never a failure. A plan with several faults gets the weakest promise of its fault classes.

The brokers differ in how an unacknowledged message comes back: kombu's Redis transport
restores it after the visibility timeout, RabbitMQ requeues it as soon as the consumer's
connection closes. So on RabbitMQ, with ``acks_late``, a killed worker's task runs again
*promptly* (``REDELIVERY_WINDOW``): a promise the Redis broker does not make, and one the
checker holds RabbitMQ to.

``GUARANTEES.md`` is rendered from this table (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chord_chaos.models.faults import (
    BROKER_RESTART,
    CHILD_KILL,
    DATABASE_RESTART,
    FAULT_CLASSES,
    LOSSY,
    REDIS_LOSS,
    REDIS_PAUSE,
    SLOW,
    WORKER_KILL,
    WORKER_TERM,
    FaultPlan,
)
from chord_chaos.models.vocabulary import BROKERS, Broker, DeliveryName

DOCS = "https://docs.celeryq.dev/en/stable"
CITE = {
    "acks_late": f"{DOCS}/userguide/configuration.html#std-setting-task_acks_late",
    "acks_faq": f"{DOCS}/faq.html#faq-acks-late-vs-retry",
    "reject": f"{DOCS}/userguide/configuration.html#std-setting-task_reject_on_worker_lost",
    "visibility": f"{DOCS}/getting-started/backends-and-brokers/redis.html#redis-visibility-timeout",
    "shutdown": f"{DOCS}/userguide/workers.html#worker-warm-shutdown",
    "publish_retry": f"{DOCS}/userguide/configuration.html#std-setting-task_publish_retry",
    "backend_retry": f"{DOCS}/userguide/configuration.html#std-setting-result_backend_always_retry",
    "amqp_requeue": "https://www.rabbitmq.com/docs/confirms#automatic-requeueing",
    "amqp_confirms": "https://www.rabbitmq.com/docs/confirms#publisher-confirms",
    "amqp_persist": "https://www.rabbitmq.com/docs/confirms#publisher-confirms-latency",
    "amqp_heartbeats": "https://www.rabbitmq.com/docs/heartbeats",
}
REDELIVERY_WINDOW = 5.0  # s after the kill by which RabbitMQ's requeued task has started again

VISIBILITY_TIMEOUT = 10.0
# Broker transport options of every chaos cluster: a message whose worker died is restored
# VISIBILITY_TIMEOUT s after delivery instead of an hour, checked every second.
CHAOS_TRANSPORT: dict[str, Any] = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": 5,  # a killed worker holding the restore mutex blocks restores this long
}


@dataclass(frozen=True)
class Delivery:
    """A delivery configuration: the task settings that decide at-most- vs at-least-once."""

    name: DeliveryName
    acks_late: bool
    reject_on_worker_lost: bool
    summary: str

    def celery_settings(self, broker: str = "redis") -> dict[str, Any]:
        """The task settings, and on a Redis broker its transport's visibility timeout (AMQP has
        none: RabbitMQ requeues an unacknowledged message when its consumer's connection closes)."""
        settings: dict[str, Any] = {"task_acks_late": self.acks_late,
                                    "task_reject_on_worker_lost": self.reject_on_worker_lost}
        if broker == "redis":
            settings["broker_transport_options"] = dict(CHAOS_TRANSPORT)
        return settings


DELIVERIES: dict[str, Delivery] = {d.name: d for d in (
    Delivery(DeliveryName.ACKS_EARLY, False, False,
             "Celery's default: acknowledged just before the task runs (at most once)"),
    Delivery(DeliveryName.ACKS_LATE, True, False,
             "task_acks_late: acknowledged after the task returns (at least once)"),
    Delivery(DeliveryName.ACKS_LATE_REJECT, True, True,
             "task_acks_late + task_reject_on_worker_lost: a killed pool child's task is requeued"),
)}
DEFAULT_DELIVERY = DeliveryName.ACKS_EARLY


@dataclass(frozen=True)
class Promise:
    """Which of the conditional properties Celery promises; ``why`` cites each one it does not."""

    liveness: bool = True  # get() resolves within the recovery window after the heal
    at_most_once: bool = True  # no task runs more often than the model predicts
    at_least_once: bool = True  # every predicted execution happens
    exact_outcome: bool = True  # no fault-induced failure (WorkerLostError, ChordError, ...)
    finished: bool = True  # every execution that starts also ends
    why: dict[str, str] = field(default_factory=dict)

    def weakest(self, other: Promise) -> Promise:
        return Promise(self.liveness and other.liveness, self.at_most_once and other.at_most_once,
                       self.at_least_once and other.at_least_once,
                       self.exact_outcome and other.exact_outcome, self.finished and other.finished,
                       {**self.why, **other.why})


FULL = Promise()
PROPERTIES = ("liveness", "at_most_once", "at_least_once", "exact_outcome", "finished")

_LOST_PUBLISH = (f"a message or result sent while the link is down is lost once the publish "
                 f"retry policy gives up ({CITE['publish_retry']}) and results are not retried "
                 f"by default ({CITE['backend_retry']}); a lost header result stalls the chord")
_ACK_LOST = (f"an acknowledgement lost on the broker link leaves the message unacked, and the "
             f"Redis transport redelivers it after the visibility timeout ({CITE['visibility']})")
_ACKED_BEFORE_RUN = (f"acks early: the message was acknowledged before the task ran, so a task "
                     f"running in a killed worker is not redelivered ({CITE['acks_late']})")
_KILLED = "the process running the task was killed, so that execution never ends"
_TERM_UNACKED = (f"acks late: a task is acknowledged only after it returns, so it can run again "
                 f"when the acknowledgement is not sent ({CITE['acks_late']}); seen here: a warm "
                 f"shutdown holding a reserved chord_unlock ETA task did not exit for 30 s and never "
                 f"acknowledged the tasks it had finished, which the visibility timeout redelivered")
_REDELIVERED = (f"acks late: the killed worker's unacknowledged message is redelivered after "
                f"the visibility timeout and may run again ({CITE['acks_faq']})")
_WORKER_LOST = (f"a killed pool child fails its task with WorkerLostError unless "
                f"task_reject_on_worker_lost requeues it ({CITE['reject']}); the chord then "
                f"fails with ChordError")
_REQUEUED = (f"task_reject_on_worker_lost requeues the killed child's task, which runs again "
             f"({CITE['reject']})")
_DATA_LOSS = ("a Redis server without persistence loses queued messages, unacked messages, "
              "results and chord counters; Celery promises nothing about lost broker or backend data")


_ACK_LOST_AMQP = (f"an acknowledgement lost with a dropped connection leaves the delivery "
                  f"unacked, and RabbitMQ requeues it when the connection closes ({CITE['amqp_requeue']})")
_TERM_UNACKED_AMQP = (f"acks late: a task is acknowledged only after it returns, so it can run "
                      f"again when the acknowledgement is not sent ({CITE['acks_late']}); RabbitMQ "
                      f"requeues what the stopping worker held unacknowledged when its connection "
                      f"closes ({CITE['amqp_requeue']})")
_REQUEUED_AMQP = (f"acks late: RabbitMQ requeues the killed worker's unacknowledged message as soon "
                  f"as its connection closes, and it runs again ({CITE['acks_faq']}, "
                  f"{CITE['amqp_requeue']})")
_BROKER_LOST = (f"Celery publishes without publisher confirms, so a message sent while the node "
                f"is down, or not yet written to disk when it dies, is lost ({CITE['amqp_confirms']}, "
                f"{CITE['amqp_persist']}); deliveries it had handed out unacknowledged, or whose "
                f"acknowledgement it had not yet written, come back after the restart")
_RESULTS_LOST = (f"result writes are not retried unless result_backend_always_retry "
                 f"({CITE['backend_retry']}): a result stored while the database restarts is lost, "
                 f"and chord_unlock waits for it for ever; a worker's failed write can fail its task")


def _kill_worker(d: Delivery, broker: str) -> Promise:
    if not d.acks_late:
        return Promise(liveness=False, at_least_once=False, exact_outcome=False, finished=False,
                       why={"liveness": _ACKED_BEFORE_RUN, "at_least_once": _ACKED_BEFORE_RUN,
                            "exact_outcome": _ACKED_BEFORE_RUN, "finished": _KILLED})
    again = _REQUEUED_AMQP if broker == Broker.RABBITMQ else _REDELIVERED
    return Promise(at_most_once=False, finished=False,
                   why={"at_most_once": again, "finished": _KILLED})


def _kill_child(d: Delivery) -> Promise:
    if d.reject_on_worker_lost:
        return Promise(at_most_once=False, finished=False,
                       why={"at_most_once": _REQUEUED, "finished": _KILLED})
    return Promise(at_least_once=False, exact_outcome=False, finished=False,
                   why={"at_least_once": _WORKER_LOST, "exact_outcome": _WORKER_LOST,
                        "finished": _KILLED})


def promise_for(delivery: Delivery, fault_class: str, broker: str = Broker.REDIS) -> Promise:
    """The promise of one fault class under one delivery configuration, on one broker."""
    amqp = broker == Broker.RABBITMQ
    if fault_class in (SLOW, REDIS_PAUSE):
        return FULL  # nothing is lost; the recovery window covers the delay
    if fault_class == WORKER_TERM:  # warm shutdown: running tasks finish, reserved ones go back
        if delivery.acks_late:
            return Promise(at_most_once=False,
                           why={"at_most_once": _TERM_UNACKED_AMQP if amqp else _TERM_UNACKED})
        return FULL
    if fault_class == LOSSY:
        return Promise(liveness=False, at_most_once=False, at_least_once=False,
                       exact_outcome=False,
                       why={"liveness": _LOST_PUBLISH, "at_least_once": _LOST_PUBLISH,
                            "exact_outcome": _LOST_PUBLISH,
                            "at_most_once": _ACK_LOST_AMQP if amqp else _ACK_LOST})
    if fault_class == WORKER_KILL:
        return _kill_worker(delivery, broker)
    if fault_class == CHILD_KILL:
        return _kill_child(delivery)
    if fault_class == REDIS_LOSS:
        return Promise(liveness=False, at_most_once=False, at_least_once=False,
                       exact_outcome=False, finished=False,
                       why=dict.fromkeys(PROPERTIES, _DATA_LOSS))
    if fault_class == BROKER_RESTART:
        return Promise(liveness=False, at_most_once=False, at_least_once=False,
                       exact_outcome=False, why=dict.fromkeys(PROPERTIES[:4], _BROKER_LOST))
    if fault_class == DATABASE_RESTART:
        return Promise(liveness=False, at_most_once=False, at_least_once=False,
                       exact_outcome=False, why=dict.fromkeys(PROPERTIES[:4], _RESULTS_LOST))
    raise ValueError(f"unknown fault class {fault_class!r}; use one of {', '.join(FAULT_CLASSES)}")


def promise(delivery: Delivery, plan: FaultPlan, broker: str = Broker.REDIS) -> Promise:
    """The weakest promise over the plan's fault classes (the full promise without faults)."""
    result = FULL
    for cls in plan.classes:
        result = result.weakest(promise_for(delivery, cls, broker))
    return result


def prompt_redelivery(delivery: Delivery, plan: FaultPlan, broker: str) -> bool:
    """Whether a task a killed worker held must start again within ``REDELIVERY_WINDOW`` s of
    the kill: on RabbitMQ with acks_late, under worker kills and no fault that could delay or
    lose the requeue (a lossy link, a broker restart)."""
    classes = set(plan.classes)
    return (broker == Broker.RABBITMQ and delivery.acks_late and WORKER_KILL in classes
            and classes <= {WORKER_KILL, SLOW, CHILD_KILL, WORKER_TERM})


def guarantees_markdown() -> str:
    """The table a user reads: one row per fault class, one column per broker and delivery
    configuration."""
    cols = [(b, n) for b in BROKERS for n in DELIVERIES]
    lines = [
        "| fault class | " + " | ".join(f"{b}: `{n}`" for b, n in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for cls in ("none", *FAULT_CLASSES):
        cells = []
        for b, n in cols:
            if cls == BROKER_RESTART and b != Broker.RABBITMQ:
                cells.append("n/a")  # no RabbitMQ node to restart
                continue
            p = FULL if cls == "none" else promise_for(DELIVERIES[n], cls, b)
            relaxed = [prop.replace("_", " ") for prop in PROPERTIES if not getattr(p, prop)]
            cell = "all" if not relaxed else "all but " + ", ".join(relaxed)
            if cls == WORKER_KILL and b == Broker.RABBITMQ and DELIVERIES[n].acks_late:
                cell += f"; and prompt redelivery (within {REDELIVERY_WINDOW:g} s)"
            cells.append(cell)
        lines.append(f"| {cls} | " + " | ".join(cells) + " |")
    reasons: dict[str, set[str]] = {}
    for cls in FAULT_CLASSES:
        for b in BROKERS:
            for d in DELIVERIES.values():
                for prop, why in promise_for(d, cls, b).why.items():
                    reasons.setdefault(why, set()).add(f"{cls}/{prop.replace('_', ' ')}")
    lines += ["", "Why a property is not promised:", ""]
    lines += [f"- {', '.join(sorted(where))}: {why}." for why, where in sorted(reasons.items())]
    return "\n".join(lines) + "\n"
