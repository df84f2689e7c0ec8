"""The compressed timeouts: what the clusters set, and GUARANTEES.md saying the same."""

from __future__ import annotations

from chord_chaos.harness.worker.app import make_app
from chord_chaos.models.guarantees import VISIBILITY_TIMEOUT
from chord_chaos.models.timeouts import CLUSTER_SETTINGS, SLOW_SECONDS, TIMEOUTS, timeouts_markdown
from tests.helpers import REPO_ROOT


def test_guarantees_md_holds_the_timeouts_table() -> None:
    assert timeouts_markdown() in (REPO_ROOT / "GUARANTEES.md").read_text(encoding="utf-8")


def test_every_cluster_app_compresses_the_chord_timeouts() -> None:
    conf = make_app("memory://", "cache+memory://").conf
    assert conf.result_chord_retry_interval == 0.1 and conf.result_chord_expires == 60
    assert conf.result_chord_join_timeout == 3.0  # left at Celery's default, on purpose
    assert CLUSTER_SETTINGS == {"result_chord_retry_interval": 0.1, "result_chord_expires": 60.0}


def test_slow_work_outlives_the_poll_interval_but_stays_below_the_visibility_timeout() -> None:
    poll = next(t for t in TIMEOUTS if t.name == "chord-unlock-poll")
    visibility = next(t for t in TIMEOUTS if t.name == "visibility")
    assert poll.seconds < SLOW_SECONDS and visibility.seconds == VISIBILITY_TIMEOUT > 2.0 + 5.0
