"""The matrix's columns, flips and table, from outcomes given by hand (the real runs are in
tests/target/test_celery_under_test.py)."""

from __future__ import annotations

from pathlib import Path

from chord_chaos.campaign.matrix import Column, Matrix, order_targets
from chord_chaos.campaign.target_runs import Outcome, Target
from chord_chaos.target.environment import CeleryEnv
from chord_chaos.target.spec import parse_spec


def _target(version: str) -> Target:
    return Target(parse_spec(version), CeleryEnv(Path(f"/envs/celery-{version}"), {"version": version}))


def test_releases_are_ordered_by_version_not_as_given() -> None:
    given = [_target("5.10.0"), _target("5.2.7"), _target("5.3.0")]
    assert [t.label for t in order_targets(given)] == ["5.2.7", "5.3.0", "5.10.0"]


def test_a_flip_is_a_verdict_that_differs_from_its_left_neighbour_on_the_same_backend() -> None:
    columns = [Column(_target(v), b) for b in ("redis", "database") for v in ("5.2.7", "5.3.0")]
    m = Matrix(["a.json", "b.json"], columns)
    verdicts = {"a.json": ["violation", "pass", "pass", "pass"],
                "b.json": ["pass", "pass", "violation", "pass"]}
    for f, row in verdicts.items():
        for i, v in enumerate(row):
            m.cells[(f, i)] = Outcome(f, v, {"known_issues": [["x", {}]]} if f == "b.json" and i == 3 else {})
    assert m.flips("a.json") == [1]  # column 2 starts the database backend: no left neighbour
    assert m.flips("b.json") == [3] and m.row("b.json")[3].cell == "known"  # type: ignore[union-attr]
    table = m.table().splitlines()
    assert table[0].split() == ["canvas", "5.2.7", "5.3.0", "5.2.7/database", "5.3.0/database"]
    assert table[1].split() == ["a", "violation", "*pass", "pass", "pass"]
    js = m.to_json()
    assert js["rows"][1]["flips"] == ["5.3.0/database"] and js["columns"][0]["spec"] == "5.2.7"
