"""get() bounded for real: a nested group member that never resolves no longer holds the
runner (Celery's join_native waits for it without a timeout)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout

from chord_chaos.check.result import Job
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.harness.run.bounded_get import GRACE, get_within
from chord_chaos.models.canvas import parse_workload

# celery-4004 inside a group: the chain's GroupResult waits for members that are never sent
NESTED_HANG = {"group": [{"chain": [{"task": "fail", "immutable": True},
                                    {"group": [{"task": "tag", "args": ["a"]},
                                               {"task": "tag", "args": ["b"]}]}]},
                         {"task": "tag", "args": ["x"]}]}


class _Deaf:
    """A result whose get() ignores its timeout, as join_native does for a nested group."""

    def get(self, **_: Any) -> Any:
        time.sleep(30)


def test_a_get_that_ignores_its_timeout_is_ended_by_the_timer() -> None:
    t0 = time.monotonic()
    with pytest.raises(CeleryTimeout, match="nested group result"):
        get_within(_Deaf(), 0.2)
    assert time.monotonic() - t0 < 0.2 + GRACE + 1.0


@pytest.mark.cluster
def test_a_nested_group_that_never_resolves_times_out_on_time(tmp_path: Path) -> None:
    with Cluster(backend="redis", run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        t0 = time.monotonic()
        [result] = BatchRunner(c, tmp_path / "out", timeout=2.0).run(
            [Job("nested-hang", parse_workload(NESTED_HANG))])
        assert time.monotonic() - t0 < 2.0 + GRACE + 5.0
    assert result.history.client.status == "TIMEOUT"
    assert [k for k, _ in result.verdict.known] == ["celery-4004"] and result.verdict.verdict == "pass"
