"""What --celery SPEC may name, and the one-line refusals of what it may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from chord_chaos.target.spec import EXTRAS, SpecError, parse_spec


def test_a_release_is_pinned_with_the_extras_the_harness_needs() -> None:
    spec = parse_spec("5.3.6")
    assert (spec.kind, spec.pinned, spec.extras) == ("release", "5.3.6", EXTRAS)
    assert parse_spec("v5.3.0rc1").pinned == "5.3.0rc1"


def test_a_requirement_keeps_its_extras_and_its_range() -> None:
    spec = parse_spec("celery[redis,msgpack]==5.3.6")
    assert (spec.kind, spec.pinned) == ("requirement", "5.3.6")
    assert spec.extras == EXTRAS | {"msgpack"}
    ranged = parse_spec("celery>=5.3,<5.4")
    assert ranged.pinned is None and ranged.specifier.contains("5.3.6")


def test_a_checkout_is_a_directory_with_celery_and_packaging(tmp_path: Path) -> None:
    (tmp_path / "celery").mkdir()
    (tmp_path / "celery" / "__init__.py").write_text("__version__ = '5.7.0'\n")
    with pytest.raises(SpecError, match="not an installable Celery checkout"):
        parse_spec(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'celery'\n")
    spec = parse_spec(str(tmp_path))
    assert (spec.kind, spec.path, spec.pinned) == ("checkout", tmp_path.resolve(), None)


@pytest.mark.parametrize(("text", "says"), [
    ("", "is empty"),
    ("kombu==5.3.0", "names kombu, not celery"),
    ("celery @ https://example.invalid/celery.tar.gz", "a URL requirement"),
    ("celery>=5.3,,", "not a release, requirement or directory"),
    ("./no/such/dir", "no such directory"),
])
def test_what_names_no_celery_is_one_line_saying_what_to_give(text: str, says: str) -> None:
    with pytest.raises(SpecError, match=says) as caught:
        parse_spec(text)
    assert "\n" not in str(caught.value)


def test_a_directory_without_celery_is_not_a_checkout(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"not a Celery checkout \(no celery/__init__.py"):
        parse_spec(str(tmp_path))
