"""Celery's (and RabbitMQ's) words for each checked property: every check has some, each names its page, and
the canvas guide's quotes are verbatim (checked against the guide the project was built from)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chord_chaos.models.documented import CANVAS, QUOTES, quotes_for
from chord_chaos.models.vocabulary import CheckName

GUIDE = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "canvas-guide.rst"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r":(?:exc|const|meth):`~?@?([^`]+)`", r"\1", text)).lower()


def test_every_check_has_celery_s_words_on_a_docs_page() -> None:
    assert set(QUOTES) == set(CheckName)
    for quotes in QUOTES.values():
        assert quotes and all(q.text and q.source.startswith((
            "https://docs.celeryq.dev/", "https://www.rabbitmq.com/docs/")) for q in quotes)


def test_only_the_quotes_about_the_canvas_s_parts_are_chosen() -> None:
    group_only = quotes_for([CheckName.OUTCOME], {"group"})
    assert [q.about for q in group_only] == ["group"]
    both = quotes_for([CheckName.OUTCOME, CheckName.INPUTS], {"chord", "group"})
    assert [q.about for q in both] == ["group", "chord"]  # each once, in the checks' order


@pytest.mark.skipif(not GUIDE.exists(), reason=f"the canvas guide is not at {GUIDE} (it is beside "
                    "the repository on the machine the project was built on); quotes not re-read")
def test_the_canvas_guide_quotes_are_verbatim() -> None:
    guide = _flat(GUIDE.read_text(encoding="utf-8"))
    for quotes in QUOTES.values():
        for q in quotes:
            if q.source.startswith(CANVAS):
                for part in q.text.split(" [...] "):
                    assert _flat(part).removeprefix("join: ") in guide, part
