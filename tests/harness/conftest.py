"""Fixtures shared by the harness tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chord_chaos.harness.procs import Supervisor


@pytest.fixture
def sup(tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor with its own state directory; stops what the test started."""
    supervisor = Supervisor(tmp_path / "state")
    yield supervisor
    supervisor.stop_all()
