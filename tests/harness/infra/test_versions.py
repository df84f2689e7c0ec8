"""The Celery under test, as every history, report, summary and JUnit file records it."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from chord_chaos.harness.infra.versions import TARGET_VAR, celery_under_test, versions
from chord_chaos.report.junit import write_junit


def test_without_celery_it_is_the_installed_release() -> None:
    assert celery_under_test() == {"version": version("celery")}
    assert "celery-spec" not in versions()


def test_a_checkout_under_test_is_recorded_with_its_path_and_commit(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    given = {"spec": "/src/celery", "version": "5.7.0+gabc12345.dirty", "path": "/src/celery",
             "commit": "abc12345-dirty", "env": "celery-5.7.0-0123"}
    monkeypatch.setenv(TARGET_VAR, json.dumps(given))
    assert celery_under_test() == given
    found = versions()
    assert (found["celery"], found["celery-spec"], found["celery-path"], found["celery-commit"]) == (
        "5.7.0+gabc12345.dirty", "/src/celery", "/src/celery", "abc12345-dirty")
    xml = write_junit({"scenarios": [], "failures": [], "elapsed": 0, "versions": found},
                      tmp_path / "j.xml").read_text()
    assert '<property name="celery" value="5.7.0+gabc12345.dirty" />' in xml
    assert '<property name="celery-commit" value="abc12345-dirty" />' in xml


def test_an_unreadable_record_is_the_installed_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TARGET_VAR, "{not json")
    assert celery_under_test() == {"version": version("celery")}
