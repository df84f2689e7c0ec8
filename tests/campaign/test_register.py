"""Verifying the register on another release: an entry shows when its mechanism explains the
minimal case's run whatever release ran it, and ``--record`` adds that release to its data."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

import chord_chaos.check.verified_releases as data
from chord_chaos.campaign.register import record_verified, shows
from chord_chaos.check.known_issues import REGISTER
from chord_chaos.check.result import Job, RunResult
from chord_chaos.check.verdict import check
from chord_chaos.models.canvas import parse_workload
from tests.check.runs import ran


def _result(canvas: dict[str, object], celery: str, **how: object) -> RunResult:
    p, h = ran(canvas, **how)  # type: ignore[arg-type]
    h = replace(h, celery=celery)
    return RunResult(Job("x", parse_workload(canvas)), p, h, check(p, h), Path("h.json"))


def test_an_entry_shows_on_a_release_it_does_not_excuse_yet() -> None:
    entry = next(k for k in REGISTER if k.id == "celery-4004")
    hung = _result(entry.minimal_canvas, "5.4.0")
    assert hung.verdict.verdict == "violation" and not hung.verdict.known  # not verified on 5.4.0
    assert shows(entry, hung)
    assert not shows(entry, _result(entry.minimal_canvas, "5.4.0", resolved=True))  # it resolved
    other = next(k for k in REGISTER if k.id == "nested-group-order")
    assert not shows(other, hung)  # another entry's mechanism does not count


def test_record_adds_the_release_to_the_entries_that_reproduced_only(tmp_path: Path) -> None:
    module = tmp_path / "verified_releases.py"
    shutil.copy(data.__file__, module)
    results = [{"id": "celery-4004", "reproduced": 2}, {"id": "nested-group-order", "reproduced": 0}]
    assert record_verified(results, "5.4.0", module) == ["celery-4004"]
    assert record_verified(results, "5.4.0", module) == []  # recorded once
    spec = importlib.util.spec_from_file_location("recorded", module)
    assert spec is not None and spec.loader is not None
    recorded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recorded)
    table = recorded.VERIFIED_RELEASES
    assert table["celery-4004"] == ("5.4.0", *data.VERIFIED_RELEASES["celery-4004"])  # version order
    assert table["nested-group-order"] == data.VERIFIED_RELEASES["nested-group-order"]
    assert set(table) == set(data.VERIFIED_RELEASES)


def test_the_check_leaves_out_what_it_cannot_judge_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from chord_chaos.campaign.register import DETERMINISTIC_VAR, _groups, not_run
    from chord_chaos.models.vocabulary import BROKER_VAR

    flaky = next(k for k in REGISTER if k.flaky and "rabbitmq" in k.brokers)
    redis_only = next(k for k in REGISTER if k.brokers == ("redis",))
    assert not_run(flaky) is None and not_run(redis_only) is None
    monkeypatch.setenv(BROKER_VAR, "rabbitmq")
    assert "another transport" in str(not_run(redis_only)) and not_run(flaky) is None
    monkeypatch.setenv(DETERMINISTIC_VAR, "1")
    assert "--times 10" in str(not_run(flaky))
    ran_ids = {k.id for g in _groups() for k in g}
    assert ran_ids == {k.id for k in REGISTER if not k.flaky and "rabbitmq" in k.brokers}
