"""Replay on real workers: a deterministic Celery deviation, made a violation by emptying the
known-issues register, reproduces every time; with the register back, it is a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chord_chaos.campaign.stats import wilson
from chord_chaos.check import known_issues
from chord_chaos.cli.main import main

pytestmark = pytest.mark.cluster

REVERSED = {"chain": [{"task": "tag", "args": ["x"]},  # nested-group-order: [["b"], ["a"], ["c"]]
                      {"group": [{"group": [{"task": "tag", "args": ["a"], "immutable": True},
                                            {"task": "tag", "args": ["b"], "immutable": True}]},
                                 {"task": "tag", "args": ["c"], "immutable": True}]}]}


def test_a_report_replays_with_a_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    canvas = tmp_path / "reversed.json"
    canvas.write_text(json.dumps(REVERSED))
    monkeypatch.setattr(known_issues, "REGISTER", ())  # a known deviation becomes a violation
    assert main(["run", str(canvas), "--report-dir", str(tmp_path)]) == 1
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    report = Path(line["report"])
    assert report.exists() and (report.parent / "report.html").exists()

    assert main(["replay", str(report), "--times", "3", "--report-dir", str(tmp_path / "r")]) == 1
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["reproduced"] for x in lines[:3]] == [True, True, True]
    assert lines[3] == {"reproduced": 3, "runs": 3, "rate": 1.0,
                        "ci95": [round(wilson(3, 3)[0], 3), 1.0]}
    assert "reproduced 3 of 3" in err
    kept = json.loads((report.parent / "replay-rate.json").read_text())  # what export quotes
    assert (kept["reproduced"], kept["runs"], kept["mode"]) == (3, 3, "register")

    monkeypatch.undo()  # the register is back: the same run is a pass with a known issue
    assert main(["replay", str(report), "--times", "2", "--report-dir", str(tmp_path / "r")]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["reproduced"] == 0


def test_wilson_interval_is_honest_at_the_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson(5, 10)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-9
