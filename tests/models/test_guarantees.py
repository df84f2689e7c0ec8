"""The guarantees table: the code and GUARANTEES.md say the same, and the cells are Celery's."""

from __future__ import annotations

import pytest

from chord_chaos.models.faults import (
    BROKER_RESTART,
    CHILD_KILL,
    DATABASE_RESTART,
    FAULT_CLASSES,
    LOSSY,
    SLOW,
    WORKER_KILL,
    Fault,
    FaultPlan,
)
from chord_chaos.models.guarantees import (
    DELIVERIES,
    FULL,
    PROPERTIES,
    guarantees_markdown,
    promise,
    promise_for,
    prompt_redelivery,
)
from chord_chaos.models.vocabulary import FaultKind
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT


def test_guarantees_md_holds_the_table_the_checker_uses() -> None:
    assert guarantees_markdown() in (ROOT / "GUARANTEES.md").read_text(encoding="utf-8")


def test_acks_early_kill_loses_the_running_task_but_never_duplicates() -> None:
    p = promise_for(DELIVERIES["acks-early"], WORKER_KILL)
    assert (p.liveness, p.at_most_once, p.at_least_once) == (False, True, False)


@pytest.mark.parametrize("delivery", ["acks-late", "acks-late-reject"])
def test_acks_late_kill_promises_redelivery_not_uniqueness(delivery: str) -> None:
    p = promise_for(DELIVERIES[delivery], WORKER_KILL)
    assert (p.liveness, p.at_most_once, p.at_least_once, p.exact_outcome) == (True, False, True, True)


def test_a_killed_child_fails_its_task_unless_reject_on_worker_lost() -> None:
    assert not promise_for(DELIVERIES["acks-late"], CHILD_KILL).exact_outcome
    reject = promise_for(DELIVERIES["acks-late-reject"], CHILD_KILL)
    assert reject.exact_outcome and reject.liveness and not reject.at_most_once


def test_every_relaxed_property_says_why_with_a_link_or_a_reason() -> None:
    for d in DELIVERIES.values():
        for cls in FAULT_CLASSES:
            p = promise_for(d, cls)
            for prop in PROPERTIES:
                if not getattr(p, prop):
                    assert p.why.get(prop), f"{d.name}/{cls}/{prop} is relaxed without a reason"


def test_a_plan_gets_the_weakest_promise_of_its_faults() -> None:
    d = DELIVERIES["acks-late"]
    assert promise(d, FaultPlan()) == FULL
    assert promise(d, FaultPlan((Fault(FaultKind.LATENCY, "*.broker", params={"latency": 10}),))) == FULL
    both = promise(d, FaultPlan((Fault(FaultKind.LATENCY, "*.broker"),
                                 Fault(FaultKind.PARTITION, "w0.broker"))))
    assert both == promise_for(d, LOSSY).weakest(promise_for(d, SLOW))
    assert not both.liveness


def test_celery_settings_of_each_delivery() -> None:
    assert DELIVERIES["acks-early"].celery_settings()["task_acks_late"] is False
    late = DELIVERIES["acks-late-reject"].celery_settings()
    assert late["task_acks_late"] and late["task_reject_on_worker_lost"]
    assert late["broker_transport_options"]["visibility_timeout"] == 10.0


def test_a_warm_shutdown_promises_at_most_once_only_with_acks_early() -> None:
    from chord_chaos.models.faults import WORKER_TERM

    assert promise_for(DELIVERIES["acks-early"], WORKER_TERM) == FULL
    late = promise_for(DELIVERIES["acks-late"], WORKER_TERM)
    assert late.liveness and late.at_least_once and not late.at_most_once


def test_rabbitmq_requeues_at_once_and_says_so_from_its_own_docs() -> None:
    late = DELIVERIES["acks-late"]
    on_redis = promise_for(late, WORKER_KILL, "redis")
    on_rabbitmq = promise_for(late, WORKER_KILL, "rabbitmq")
    assert not on_redis.at_most_once and not on_rabbitmq.at_most_once  # runs again on both
    assert "visibility timeout" in on_redis.why["at_most_once"]
    assert "rabbitmq.com/docs/confirms#automatic-requeueing" in on_rabbitmq.why["at_most_once"]
    kill = FaultPlan((Fault(FaultKind.KILL_WORKER, "@anchor"),))
    assert prompt_redelivery(late, kill, "rabbitmq") and not prompt_redelivery(late, kill, "redis")
    assert not prompt_redelivery(DELIVERIES["acks-early"], kill, "rabbitmq")  # acked: gone
    lossy = FaultPlan((Fault(FaultKind.KILL_WORKER, "@anchor"), Fault(FaultKind.PARTITION, "w1.broker")))
    assert not prompt_redelivery(late, lossy, "rabbitmq")  # a cut link is noticed by heartbeats


def test_a_broker_or_database_restart_keeps_running_tasks_but_not_messages() -> None:
    for cls in (BROKER_RESTART, DATABASE_RESTART):
        p = promise_for(DELIVERIES["acks-late"], cls, "rabbitmq")
        assert p.finished and not (p.liveness or p.at_most_once or p.at_least_once or p.exact_outcome)
    early = DELIVERIES["acks-early"]
    assert "publisher confirms" in promise_for(early, BROKER_RESTART, "rabbitmq").why["liveness"]
    assert "result_backend_always_retry" in promise_for(early, DATABASE_RESTART).why["liveness"]
