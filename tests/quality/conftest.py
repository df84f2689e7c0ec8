"""The planted-bug tier runs with ``make quality`` only: each case is a fuzz or chaos run of minutes."""

from __future__ import annotations

import os

import pytest

QUALITY = "CC_QUALITY"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get(QUALITY):
        return
    skip = pytest.mark.skip(reason="planted-bug tier: a fuzz or chaos run per planted bug (minutes in all); "
                                   "run it with 'make quality'")
    for item in items:
        if "tests/quality/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)
