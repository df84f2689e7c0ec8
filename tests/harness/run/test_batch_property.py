"""The property that gives the tool its value: with no faults, real Celery agrees with the model.

Hypothesis draws batches of canvases (``st.lists``, so shrinking reduces a failing batch to the
one canvas that fails, then shrinks that canvas), each from the plain strategy or a swarm (its
features drawn first: rare combinations and slow work that outlives the compressed chord
timeouts), and runs each batch on one real cluster per
backend: redis-server, prefork ``celery worker`` processes, the Redis result backend (native
join) and the SQLAlchemy database backend (``chord_unlock`` polling). Deviations recorded in
the known-issues register pass, and are listed in the verdict; anything else fails the test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chord_chaos.check.result import Job
from chord_chaos.harness.cluster.local import Cluster
from chord_chaos.harness.run.batch import BatchRunner
from chord_chaos.models.canvas import Workload, workload_to_json
from chord_chaos.models.strategies import workloads
from chord_chaos.models.swarm import swarm_workloads
from chord_chaos.models.vocabulary import BACKENDS

# In CI the gate's fixed-seed ``fuzz`` slice checks the same property over many more canvases.
EXAMPLES = int(os.environ.get("CC_PROPERTY_EXAMPLES", "8" if os.environ.get("CI") else "40"))
BATCH = 10


@pytest.fixture(scope="module", params=list(BACKENDS))
def runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchRunner]:
    with Cluster(backend=request.param) as cluster:
        yield BatchRunner(cluster, Path(tmp_path_factory.mktemp(f"runs-{request.param}")), timeout=8.0,
                     grace=0.1)


@pytest.mark.cluster
@settings(max_examples=EXAMPLES)
@given(batch=st.lists(st.one_of(workloads(), swarm_workloads()), min_size=1, max_size=BATCH))
def test_real_celery_agrees_with_the_model(runner: BatchRunner, batch: list[Workload]) -> None:
    results = list(runner.run([Job(f"example-{i}", w) for i, w in enumerate(batch)], batch=BATCH))
    bad = [r for r in results if r.verdict.verdict != "pass"]
    assert not bad, "\n".join(
        json.dumps({"canvas": workload_to_json(r.job.workload), **r.verdict.to_json(),
                    "history": str(r.history_path)})
        for r in bad
    )
