"""Merging shard summaries and writing JUnit: pure, on hand-written summaries."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from chord_chaos.campaign.summary import Summary, Tally, merge_summaries
from chord_chaos.cli.campaign_commands import parse_shard
from chord_chaos.cli.input import UsageError
from chord_chaos.cli.main import main
from chord_chaos.report.junit import write_junit


def _summary(seed: int, runs: int, violations: int = 0, scenario: str = "map-reduce") -> Summary:
    t = Tally(scenario, "redis", "acks-late", runs=runs, passed=runs - violations, violations=violations,
              faults=runs, seconds=1.5)
    t.anomaly_properties.update({"liveness": 1})
    failures = [{"scenario": scenario, "backend": "redis", "verdict": "violation", "stage": "first",
                 "messages": ["$.chord.body ran 2 time(s); expected 1"], "report": "r/report.json"}
                ] * violations
    return Summary([t], failures, seed=seed, budget=10, elapsed=12.0, started=1.0)


def test_merge_sums_the_same_pair_and_keeps_every_failure(tmp_path: Path) -> None:
    merged = merge_summaries([_summary(0, 3), _summary(0, 4, 1), _summary(0, 2, scenario="ab-test")],
                             tmp_path)
    by_name = {t.scenario: t for t in merged.tallies}
    assert by_name["map-reduce"].runs == 7 and by_name["map-reduce"].violations == 1
    assert by_name["map-reduce"].anomaly_properties == {"liveness": 2}
    assert merged.totals()["runs"] == 9 and len(merged.failures) == 1
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["merged_from"] == 3 and Summary.from_json(written).totals() == merged.totals()


def test_junit_has_a_case_per_pair_and_fails_the_violating_one(tmp_path: Path) -> None:
    summary = merge_summaries([_summary(0, 3), _summary(0, 4, 1, "ab-test")], tmp_path)
    register = [{"id": "celery-4004", "reproduced": 1, "runs": 1, "flaky": False},
                {"id": "retry-state-race", "reproduced": 0, "runs": 1, "flaky": True}]
    root = ET.parse(write_junit(summary.to_json(), tmp_path / "j.xml", register)).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    failing = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failing == ["ab-test[redis,acks-late]"]


def test_the_merge_command_checks_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, s in enumerate((_summary(1, 2), _summary(1, 3, 1))):
        (tmp_path / f"s{i}").mkdir()
        s.write(tmp_path / f"s{i}")
    assert main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "m")]) == 1
    assert "merged campaign of 2" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("[]")
    assert main(["merge", str(tmp_path / "bad.json")]) == 2
    assert main(["merge", str(tmp_path / "nowhere")]) == 2


@pytest.mark.parametrize(("text", "expected"), [(None, (1, 1)), ("2/4", (2, 4)), ("4/4", (4, 4))])
def test_parse_shard(text: str | None, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3"])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)
