"""A fault plan as repro.py steps: plain tools where they can, commented otherwise."""

from __future__ import annotations

from chord_chaos.check.history import ClientView
from chord_chaos.export.fault_steps import fault_steps
from chord_chaos.models.faults import Anchor, Fault, FaultPlan
from chord_chaos.models.vocabulary import FaultKind
from tests.check.runs import ran

SLOW = {"chord": {"header": [{"task": "sleep", "args": [1, "a"]}, {"task": "tag", "args": ["b"]}],
                  "body": {"task": "tag", "args": ["z"]}}}


def _history() -> object:
    return ran(SLOW, client=ClientView("FAILURE", error="ChordError"))[1]


def test_a_child_kill_at_a_header_start_kills_the_pool_process_running_that_task() -> None:
    plan = FaultPlan((Fault(FaultKind.KILL_CHILD, "@anchor", 0.2, 1.0, anchor=Anchor("start", "header", 1)),))
    steps = fault_steps(plan, _history())  # type: ignore[arg-type]
    assert not steps.commented and not steps.redis_faults
    (fn,) = steps.functions
    assert 'pid, host = running("tasks.sleep", \'start\', 1)' in fn
    assert "time.sleep(0.2)" in fn and "os.kill(pid, signal.SIGKILL)" in fn
    compile(steps.code, "steps", "exec")


def test_a_worker_kill_is_healed_by_starting_another_worker() -> None:
    plan = FaultPlan((Fault(FaultKind.KILL_WORKER, "@anchor", 0.0, 2.0, anchor=Anchor("start", "body", 1)),
                      Fault(FaultKind.TERM_WORKER, "w1", 1.5, 0.5)))
    kill, term = fault_steps(plan, _history()).functions  # type: ignore[arg-type]
    assert 'running("tasks.tag", \'start\', 1)' in kill  # the body's op
    assert "os.kill(worker_pid(host), signal.SIGKILL)" in kill
    assert kill.index("time.sleep(2.0)") < kill.index("start_worker()")
    assert "T0[0] + 1.5" in term and "os.kill(worker_pid(None), signal.SIGTERM)" in term


def test_a_redis_restart_targets_its_own_server_and_asks_for_two() -> None:
    plan = FaultPlan((Fault(FaultKind.RESTART_REDIS, "backend", 0.0, 0.0,
                            anchor=Anchor("start", "header", 2)),
                      Fault(FaultKind.PAUSE_REDIS, "broker", 0.5, 1.0)))
    steps = fault_steps(plan, _history())  # type: ignore[arg-type]
    restart, pause = steps.functions
    assert steps.redis_faults
    assert "redis_pid(BACKEND_URL)" in restart and "start_redis(BACKEND_URL)" in restart
    assert 'running("tasks.tag", \'start\', 2)' in restart  # the second header start was tag's
    assert "signal.SIGSTOP" in pause and pause.index("time.sleep(1.0)") < pause.index("signal.SIGCONT")


def test_a_network_fault_is_a_commented_step() -> None:
    plan = FaultPlan((Fault(FaultKind.LATENCY, "w0.broker", 0.1, 0.3, {"latency": 50}),
                      Fault(FaultKind.PARTITION, "*.backend", 0.0, 1.0, anchor=Anchor("start", "header", 1))))
    steps = fault_steps(plan, _history())  # type: ignore[arg-type]
    assert steps.functions == () and steps.code == ""
    assert steps.commented == ("latency (latency=50) on the link w0.broker, 0.1 s after submission, "
                               "for 0.3 s",
                               "partition on the link *.backend, 0 s after start #1 of a header task, "
                               "for 1 s")
