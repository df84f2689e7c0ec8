"""Prompt redelivery: on RabbitMQ with ``acks_late``, a task a killed worker was running starts
again within ``REDELIVERY_WINDOW`` s of the kill.

RabbitMQ requeues a delivery as soon as the connection it went out on closes, and SIGKILL
closes a worker's sockets at once; kombu's Redis transport instead waits for the visibility
timeout. The window leaves room for a busy survivor (a slow task holds a pool slot for up to
2 s) and for the killed worker's restart; it is half the Redis visibility timeout, so a
RabbitMQ that waited like Redis would break it. Checked only where
``guarantees.prompt_redelivery`` promises it.
"""

from __future__ import annotations

from chord_chaos.check.events import Event
from chord_chaos.check.exact import Violation
from chord_chaos.check.history import History
from chord_chaos.models.faults import parse_plan
from chord_chaos.models.guarantees import DELIVERIES, REDELIVERY_WINDOW, prompt_redelivery
from chord_chaos.models.semantics import Prediction
from chord_chaos.models.vocabulary import CheckName

PROPERTY = "prompt_redelivery"


def broker_of(h: History) -> str:
    return str(h.meta.get("broker") or "redis")


def _cut_short(events: list[Event], host: str, kill_ns: int) -> list[Event]:
    """Starts on ``host`` before the kill whose execution (node, attempt, pid) never ended."""
    ended = {(e.node, e.attempt, e.pid) for e in events if e.kind == "end"}
    return [e for e in events if e.kind == "start" and e.hostname == host and e.mono < kill_ns
            and (e.node, e.attempt, e.pid) not in ended]


def redelivery(p: Prediction, h: History) -> list[tuple[str, Violation]]:
    if not prompt_redelivery(DELIVERIES[h.delivery], parse_plan(h.faults, "history.faults"),
                             broker_of(h)):
        return []
    t0 = h.meta.get("t0_mono_ns")
    if t0 is None:
        return []
    events = sorted(h.events, key=lambda e: e.mono)
    out: list[tuple[str, Violation]] = []
    for record in h.nemesis:
        if record.get("kind") != "kill_worker" or record.get("applied") is None or record.get("error"):
            continue
        kill_ns = int(t0 + float(record["applied"]) * 1e9)
        for name in record.get("resolved") or []:
            host = next((e.hostname for e in events if e.hostname.partition("@")[0] == name), "")
            for lost in _cut_short(events, host, kill_ns):
                again = next((e for e in events if e.kind == "start" and e.node == lost.node
                              and e.mono > kill_ns), None)
                late = None if again is None else (again.mono - kill_ns) / 1e9
                if late is None or late > REDELIVERY_WINDOW:
                    when = "never" if late is None else f"{late:.1f} s after the kill"
                    out.append((PROPERTY, Violation(
                        CheckName.REDELIVERY, f"{lost.node} was running on {name} when it was "
                        f"killed and started again {when}; RabbitMQ requeues an unacknowledged "
                        f"delivery when its connection closes (expected within "
                        f"{REDELIVERY_WINDOW:g} s)", lost.node, REDELIVERY_WINDOW, late)))
    return out
