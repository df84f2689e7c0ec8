"""The seed examples on real workers, both backends: every one agrees with the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from chord_chaos.check.result import Job
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.models.canvas import loads_workload
from chord_chaos.models.vocabulary import BACKENDS
from tests.helpers import SEEDS_DIR

pytestmark = pytest.mark.cluster

SEEDS = sorted(SEEDS_DIR.glob("*.json"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_examples_pass_on_real_celery(backend: str, tmp_path: Path) -> None:
    jobs = [Job(p.stem, loads_workload(p.read_text(), str(p))) for p in SEEDS]
    with Cluster(backend=backend, run_dir=tmp_path / "run", state_dir=tmp_path / "state") as c:
        results = list(BatchRunner(c, tmp_path / "out", timeout=20).run(jobs, batch=10))
    failed = {r.job.label: r.verdict.to_json() for r in results if r.verdict.verdict != "pass"}
    assert not failed
    assert len(results) == len(SEEDS)
