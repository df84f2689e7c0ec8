"""Every seed example (canvases/seeds, from ../shared/seeds) is predicted; values checked by
hand against the seed documents' descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chord_chaos.models.canvas import loads_workload
from chord_chaos.models.semantics import predict

SEEDS = Path(__file__).resolve().parents[2] / "canvases" / "seeds"

HAND_CHECKED: dict[str, Any] = {
    "map_reduce": 2 + 4 + 6 + 8 + 10,
    "chunk_statistics": 6 + 9 + 6,
    "dynamic_chord": 11 + 12 + 13,  # apply-time arg 10 prepended to every header task
    "canvas_guide_chain_add": 16,
    "canvas_guide_chord_xsum": 90,
    "canvas_guide_immutable_group": [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
    "canvas_guide_immutable_body": ["notify-done"],
    "empty_header": 0,
    "retry_in_header": 5 + 2,
    "report_gathering": [[["sales"], ["financial"], ["customers"], ["operations"]], "report"],
    "hierarchical_rollup": [[[[["team1"], ["team2"]], "dept-a"], [[["team3"]], "dept-b"]],
                            "company"],
}


def test_there_are_seed_examples() -> None:
    assert len(list(SEEDS.glob("*.json"))) >= 15


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.json")), ids=lambda p: p.stem)
def test_every_seed_is_predicted(path: Path) -> None:
    p = predict(loads_workload(path.read_text(), str(path)))
    if path.stem == "error_handling":
        assert p.status == "FAILURE" and "ExpectedException" in p.errors
        assert p.executions["$.chord.body"] == 0 and p.executions["$.link_error"] == 1
    else:
        assert p.status == "SUCCESS"
    if path.stem in HAND_CHECKED:
        assert p.value == HAND_CHECKED[path.stem]
    body = [n for n in p.executions if n.endswith("chord.body")]
    assert all(p.executions[n] <= 1 for n in body)
