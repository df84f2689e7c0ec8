"""Hypothesis profiles, chosen explicitly (Hypothesis would pick its own ``ci`` profile
whenever CI is set): ``gate`` is derandomized with no example database, for a fixed CI slice;
``dev`` explores and remembers failures in .hypothesis/. Select with CC_HYPOTHESIS_PROFILE.

Under pytest-xdist each worker gets its own state directory (``CC_STATE_DIR``: process
registry, run directories and ledgers); ports are always the kernel's free ones. The Celery
environments of ``--celery`` are shared by all (``CC_CELERY_ENVS``), built once per machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from chord_chaos.harness.infra.registry import STATE_DIR_NAME, STATE_DIR_VAR
from chord_chaos.harness.infra.supervisor import Supervisor
from chord_chaos.models.vocabulary import BROKER_VAR
from chord_chaos.target.environment import CACHE_VAR
from tests.helpers import REPO_ROOT

settings.register_profile(
    "gate", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("CC_HYPOTHESIS_PROFILE", "gate" if os.environ.get("CI") else "dev"))

os.environ.setdefault(CACHE_VAR, str(REPO_ROOT / STATE_DIR_NAME / "celery-envs"))
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER and not os.environ.get(STATE_DIR_VAR):
    os.environ[STATE_DIR_VAR] = str(REPO_ROOT / STATE_DIR_NAME / f"xdist-{_XDIST_WORKER}")


@pytest.fixture
def sup(tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor with its own state directory; stops what the test started."""
    supervisor = Supervisor(tmp_path / "state")
    yield supervisor
    supervisor.stop_all()


@pytest.fixture(autouse=True, scope="session")
def _no_broker_from_outside() -> None:
    """Module-scoped clusters are made before any function fixture: none may inherit a broker."""
    os.environ.pop(BROKER_VAR, None)


@pytest.fixture(autouse=True)
def _one_broker_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--broker`` sets CC_BROKER in the command's process (the test's): recorded here as unset,
    so that it is removed again when the test ends and the next test, or the next module's
    cluster, in this worker runs on Redis."""
    monkeypatch.setenv(BROKER_VAR, "redis")
    monkeypatch.delenv(BROKER_VAR)
