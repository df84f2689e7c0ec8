"""A canvas written as Celery Python code reads back as the same canvas."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chord_chaos.check.known_issues import REGISTER
from chord_chaos.models.canvas import CanvasError, Workload, parse_workload
from chord_chaos.models.python_code import from_python, to_python
from chord_chaos.models.strategies import workloads
from chord_chaos.models.swarm import swarm_workloads


@given(st.one_of(workloads(), swarm_workloads()))
def test_every_generated_canvas_round_trips_through_python(workload: Workload) -> None:
    code = to_python(workload)
    ast.parse(code)  # valid Python
    assert from_python(code) == workload


@pytest.mark.parametrize("issue", REGISTER, ids=[k.id for k in REGISTER])
def test_each_registered_minimal_canvas_round_trips(issue: object) -> None:
    workload = parse_workload(issue.minimal_canvas)  # type: ignore[attr-defined]
    assert from_python(to_python(workload)) == workload


def test_the_code_reads_as_a_celery_user_writes_it() -> None:
    w = parse_workload({"canvas": {"chord": {"header": [{"task": "add", "args": [2, 2]}],
                                             "body": {"task": "tsum", "link_error": {"task": "log_error"}}}},
                        "args": [], "config": {"task_allow_error_cb_on_chord_header": True}})
    code = to_python(w)
    assert "canvas = chord([add.s(2, 2)], linked(tsum.s(), link_error=log_error.s()))" in code
    assert "from tasks import add, log_error, tsum" in code
    assert "# app.conf.task_allow_error_cb_on_chord_header = True" in code
    assert from_python(code) == w


@pytest.mark.parametrize(("code", "problem"), [
    ("canvas = (", "not Python"),
    ("x = 1", "no `canvas = ...`"),
    ("canvas = os.system('true')", "unexpected call"),
    ("canvas = chain(tag.s())", "chain takes a list"),
    ("canvas = linked(group([tag.s()]), link=tag.s())", "callbacks on a chain or group"),
])
def test_anything_else_is_refused_without_running_it(code: str, problem: str) -> None:
    with pytest.raises(CanvasError, match=problem):
        from_python(code)
