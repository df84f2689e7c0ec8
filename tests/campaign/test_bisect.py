"""Bisection over releases, with the runs faked: which releases it visits and what it concludes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

import chord_chaos.campaign.bisect as bisect_module
from chord_chaos.campaign.bisect import BisectError, Step, bisect, candidates
from chord_chaos.campaign.target_runs import Outcome

VERSIONS = [Version(v) for v in ("5.0.0", "5.0.1", "5.1.0rc1", "5.1.0", "5.1.1", "5.2.0", "5.2.1",
                                 "5.2.2", "5.3.0", "5.3.1")]


def test_candidates_are_the_final_releases_from_good_to_bad() -> None:
    assert candidates(VERSIONS, Version("5.0.1"), Version("5.2.0")) == ["5.0.1", "5.1.0", "5.1.1", "5.2.0"]
    assert candidates(VERSIONS, Version("5.3.0"), Version("5.2.1")) == ["5.3.0", "5.2.2", "5.2.1"]


class FakeRuns:
    """Releases from ``broken`` on (or up to, for a fix) violate in ``hits`` of each step's runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, bad_from: str, hits: int = 3,
                 fixed: bool = False) -> None:
        self.visited: list[str] = []
        self.bad_from, self.hits, self.fixed = Version(bad_from), hits, fixed
        monkeypatch.setattr(bisect_module, "releases", lambda _cache: [
            type("R", (), {"version": v})() for v in VERSIONS])
        monkeypatch.setattr(bisect_module, "prepare", lambda release, _announce: release)
        monkeypatch.setattr(bisect_module, "run_files", self.run)

    def run(self, release: str, files: list[str], *_args: Any) -> list[Outcome]:
        self.visited.append(release)
        broken = (Version(release) < self.bad_from) if self.fixed else (Version(release) >= self.bad_from)
        hits = self.hits if broken else 0
        return [Outcome(f, "violation" if i < hits else "pass", {"report": f"r{i}"})
                for i, f in enumerate(files)]


def _bisect(good: str, bad: str, tmp_path: Path, steps: list[Step] | None = None) -> Any:
    return bisect("c.json", good, bad, "redis", 3, 10.0, tmp_path, lambda _l: None,
                  (steps.append if steps is not None else None))


def test_a_regression_is_found_in_logarithmic_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runs = FakeRuns(monkeypatch, "5.2.1")
    found = _bisect("5.0.0", "5.3.1", tmp_path)
    assert (found.last_good, found.first_bad, found.regression) == ("5.2.0", "5.2.1", True)
    assert runs.visited[:2] == ["5.3.1", "5.0.0"] and len(runs.visited) <= 2 + 3  # 8 finals: 3 halvings


def test_a_fix_is_found_from_good_newer_to_bad_older(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    FakeRuns(monkeypatch, "5.2.0", fixed=True)
    found = _bisect("5.3.1", "5.0.0", tmp_path)
    assert (found.last_good, found.first_bad, found.regression) == ("5.2.0", "5.1.1", False)


def test_a_flaky_step_counts_as_bad_and_shows_its_rate(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    FakeRuns(monkeypatch, "5.1.0", hits=1)
    steps: list[Step] = []
    found = _bisect("5.0.0", "5.3.1", tmp_path, steps)
    assert found.first_bad == "5.1.0"
    assert all("reproduced 1 of 3" in s.line() and "(flaky)" in s.line() for s in steps if s.bad)
    assert steps[0].report == "r0"


@pytest.mark.parametrize(("good", "bad", "says"), [
    ("5.0.0", "5.0.1", "passes on the bad release 5.0.1"),
    ("5.3.0", "5.3.1", "fails on the good release 5.3.0 too"),
    ("5.0.0", "5.0.0", "both 5.0.0"),
    ("5.0.0", "4.9.9", "--bad 4.9.9: not a published Celery release"),
    ("five", "5.3.1", "--good five: not a release number"),
])
def test_nothing_to_bisect_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good: str,
                                       bad: str, says: str) -> None:
    FakeRuns(monkeypatch, "5.2.1")
    with pytest.raises((BisectError, ValueError), match=says):
        _bisect(good, bad, tmp_path)
