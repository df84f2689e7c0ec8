"""The timeouts chords depend on, scaled down so that a drawn task outlives them within seconds,
and what Celery still promises to a task or chord that outlives each one.

A chord whose header takes a few milliseconds never meets a timeout, so a Celery whose chord
keys expired after a second, or whose ``chord_unlock`` gave up after two polls, would pass every
such run. Drawn slow tasks (``SLOW_SECONDS`` and more) outlive the first two of the table by
construction; ``GUARANTEES.md`` renders the table (``timeouts_markdown``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chord_chaos.models.guarantees import CITE, DOCS, VISIBILITY_TIMEOUT

SLOW_SECONDS = 1.0  # a drawn task at least this slow is "slow work"


@dataclass(frozen=True)
class Timeout:
    name: str
    setting: str
    celery_default: str
    seconds: float  # what chord-chaos clusters set (or leave)
    applies: str  # which clusters and backends
    outlived: str  # what Celery does when a task or chord outlives it
    promised: str  # what chord-chaos still checks then
    app_setting: bool = False  # set in every cluster's app configuration (``CLUSTER_SETTINGS``)


TIMEOUTS = (
    Timeout("chord-unlock-poll", "result_chord_retry_interval", "1 s", 0.1,
            "every cluster; database backend (chord_unlock)",
            "chord_unlock polls the header again after this interval, with max_retries=None: it "
            "never gives up while the header is pending",
            "everything: a slow header costs polls, never the chord", app_setting=True),
    Timeout("chord-key-expiry", "result_chord_expires", "result_expires (1 day)", 60.0,
            "every cluster; Redis backend (the chord's counter and result keys)",
            "the chord's keys vanish, so a header that spans longer never completes the chord",
            "everything while a chord's header ends within it (every run here ends well within "
            "60 s or fails liveness first); drawn slow header tasks take 1-2 s, so a Celery that "
            "expired the keys sooner than configured fails liveness", app_setting=True),
    Timeout("chord-join", "result_chord_join_timeout", "3 s", 3.0,
            "every cluster; Redis backend joining a header that holds a group",
            "the join of the header's results raises TimeoutError and the chord fails",
            "everything: the join starts only once every header result is stored; left at "
            "Celery's default, since a shorter one fails chords under latency faults by design"),
    Timeout("visibility", "broker_transport_options.visibility_timeout", "1 hour", VISIBILITY_TIMEOUT,
            "chaos clusters (a delivery configuration); Redis broker",
            f"an unacknowledged message is redelivered and may run twice ({CITE['visibility']})",
            "drawn tasks stay below it (at most 2 s, plus a latch hold of at most 5 s); a "
            "redelivery it causes is the documented at-most-once anomaly of the fault classes"),
)

CLUSTER_SETTINGS = {t.setting: t.seconds for t in TIMEOUTS if t.app_setting}


def timeouts_markdown() -> str:
    lines = ["| timeout | setting | Celery's default | here | where | a task or chord that outlives it | "
             "what is still checked |", "|---|---|---|---|---|---|---|"]
    for t in TIMEOUTS:
        lines.append(f"| {t.name} | `{t.setting}` | {t.celery_default} | {t.seconds:g} s | {t.applies} "
                     f"| {t.outlived} | {t.promised} |")
    lines.append(f"\nSettings: {DOCS}/userguide/configuration.html")
    return "\n".join(lines) + "\n"
