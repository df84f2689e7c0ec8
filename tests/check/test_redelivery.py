"""Prompt redelivery, checked only where RabbitMQ promises it: a killed worker's task under
acks_late starts again within the window, or the run is a violation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chord_chaos.check.events import Event
from chord_chaos.check.history import ClientView, History
from chord_chaos.check.redelivery import redelivery
from chord_chaos.check.verdict import check
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.guarantees import REDELIVERY_WINDOW
from chord_chaos.models.semantics import Prediction, predict
from tests.check.runs import ran

CHORD = {"chord": {"header": [{"task": "sleep", "args": [1, "a"], "immutable": True},
                              {"task": "tag", "args": ["b"], "immutable": True}],
                   "body": {"task": "tag", "args": ["z"]}}}
S = 1_000_000_000
KILL = {"fault": 0, "kind": "kill_worker", "target": "@anchor", "at": 0.0, "duration": 0.5,
        "resolved": ["w0"], "applied": 1.0, "healed": 1.5, "error": None}


def _start(node: str, host: str, at: float, pid: int, attempt: int = 0,
           args: list[Any] | None = None) -> Event:
    return Event("start", "r", node, f"id{node}", attempt, f"{host}@127.0.0.1", pid, 0.0, int(at * S),
                 args or [], {}, None)


def _end(start: Event, at: float, value: Any) -> Event:
    return replace(start, kind="end", mono=int(at * S), outcome={"ok": value})


def _history(again_after: float | None, broker: str = "rabbitmq", delivery: str = "acks-late",
             kinds: tuple[str, ...] = ("kill_worker",)) -> History:
    """The first header task cut short by the kill of w0 at 1 s; started again on w1
    ``again_after`` s later (never, for None); everything else as predicted."""
    killed = _start("$.chord.header[0]", "w0", 0.5, 10, args=[1, "a"])
    events = [killed, _start("$.chord.header[1]", "w1", 0.5, 20, args=["b"])]
    events.append(_end(events[1], 0.6, ["b"]))
    if again_after is not None:
        retried = _start("$.chord.header[0]", "w1", 1.0 + again_after, 21, args=[1, "a"])
        body = _start("$.chord.body", "w1", 3.0 + again_after, 21, args=[["a", ["b"]], "z"])
        events += [retried, _end(retried, 2.0 + again_after, "a"), body,
                   _end(body, 3.1 + again_after, [["a", ["b"]], "z"])]
    faults = [{"kind": k, "target": "@anchor" if k == "kill_worker" else "w1.broker", "at": 0.0,
               "duration": 0.5, **({"anchor": {"event": "start", "role": "header", "count": 1}}
                                  if k == "kill_worker" else {})} for k in kinds]
    _, h = ran(CHORD, resolved=again_after is not None)
    client = ClientView("SUCCESS", [["a", ["b"]], "z"]) if again_after is not None else ClientView("TIMEOUT")
    meta = {"t0_mono_ns": 0, "chaos": True, **({"broker": broker} if broker != "redis" else {})}
    return replace(h, events=tuple(events), client=client, delivery=delivery, meta=meta,
                   faults={"faults": faults}, nemesis=(KILL,), timeout=30.0)


def predict_of(h: History) -> Prediction:
    return predict(parse_workload(h.workload))


def test_a_prompt_requeue_passes() -> None:
    h = _history(1.0)
    assert redelivery(predict_of(h), h) == []
    assert check(predict_of(h), h).verdict == "pass"


@pytest.mark.parametrize("late", [REDELIVERY_WINDOW + 3.0, None])
def test_a_slow_or_missing_requeue_on_rabbitmq_is_a_violation(late: float | None) -> None:
    h = _history(late)
    (found,) = redelivery(predict_of(h), h)
    assert found[0] == "prompt_redelivery" and found[1].node == "$.chord.header[0]"
    verdict = check(predict_of(h), h)
    assert verdict.verdict == "violation" and "redelivery" in {v.check for v in verdict.violations}


@pytest.mark.parametrize("case", ["redis broker", "acks early", "a lossy link as well"])
def test_where_it_is_not_promised_it_is_not_checked(case: str) -> None:
    h = {"redis broker": _history(REDELIVERY_WINDOW + 3.0, broker="redis"),
         "acks early": _history(REDELIVERY_WINDOW + 3.0, delivery="acks-early"),
         "a lossy link as well": _history(REDELIVERY_WINDOW + 3.0, kinds=("kill_worker", "partition")),
         }[case]
    assert redelivery(predict_of(h), h) == []
