"""The lost-message rule, pure: a message that was published, never received by a pool process,
is in neither a queue nor the unacknowledged hash, and has no stored state was taken off the
queue and lost (the evidence comes from the delivery records and two broker probes)."""

from __future__ import annotations

from typing import Any

from chord_chaos.check.events import Event


def lost_messages(deliveries: tuple[Event, ...], broker: dict[str, Any]) -> list[Event]:
    """The last publish of each task that no pool process received, that is not in the broker
    (queued or unacknowledged), and whose attempt stored no state: messages the transport
    lost. Empty when the broker could not be read (no evidence, no finding)."""
    if broker.get("error") is not None or "messages" not in broker:
        return []
    received = {(e.task_id, e.attempt) for e in deliveries if e.kind == "receive"}
    last: dict[str | None, Event] = {}
    for e in deliveries:
        if e.kind == "publish" and (e.task_id not in last or e.attempt >= last[e.task_id].attempt):
            last[e.task_id] = e
    states = broker.get("states", {})
    in_broker = set(broker["messages"])
    return sorted((e for e in last.values()
                   if (e.task_id, e.attempt) not in received and e.task_id not in in_broker
                   and _nothing_stored(states.get(e.task_id or ""), e.attempt)),
                  key=lambda e: e.mono)


def _nothing_stored(state: str | None, attempt: int) -> bool:
    """PENDING is no state at all; RETRY is the previous attempt's."""
    return state == "PENDING" or (state == "RETRY" and attempt > 0)
