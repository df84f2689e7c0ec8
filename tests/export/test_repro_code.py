"""repro.py is valid Python, applies the canvas it was given, and reads back as that canvas."""

from __future__ import annotations

import ast

from hypothesis import given
from hypothesis import strategies as st

from chord_chaos.export.fault_steps import FaultSteps
from chord_chaos.export.repro_code import Case, repro_py, urls
from chord_chaos.models.canvas import Workload, parse_workload
from chord_chaos.models.python_code import from_python
from chord_chaos.models.semantics import predict
from chord_chaos.models.strategies import workloads
from chord_chaos.models.swarm import swarm_workloads


def case(workload: Workload, backend: str = "redis", **more: object) -> Case:
    p = predict(workload).to_json()
    return Case(workload, {"status": p["status"], "value": p.get("value")}, {"status": "TIMEOUT"},
                backend, "report.json", **more)  # type: ignore[arg-type]


def _imports(code: str) -> set[str]:
    tree = ast.parse(code)
    return {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        (n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


@given(st.one_of(workloads(), swarm_workloads()))
def test_every_generated_canvas_round_trips_through_repro_py(workload: Workload) -> None:
    code = repro_py(case(workload))
    compile(code, "repro.py", "exec")
    assert from_python(code) == workload
    assert _imports(code) <= {"json", "os", "signal", "sys", "threading", "time", "celery", "tasks"}


def test_the_run_s_settings_are_applied_in_order() -> None:
    w = parse_workload({"canvas": {"chord": {"header": [{"task": "fail"}], "body": {"task": "tsum"}}},
                        "config": {"task_allow_error_cb_on_chord_header": True}})
    code = repro_py(case(w, settings={"result_chord_retry_interval": 0.1},
                         delivery={"task_acks_late": True}, user_settings={"result_chord_ordered": False}))
    order = [code.index(s) for s in ("result_chord_retry_interval=0.1", "task_acks_late=True",
                                     "result_chord_ordered=False",
                                     "app.conf.task_allow_error_cb_on_chord_header = True")]
    assert order == sorted(order)  # the user's settings win over the harness's, as in the run
    assert code.index("app = Celery(") < order[0] < code.index("from tasks import fail, tsum")
    assert from_python(code) == w


def test_one_redis_server_serves_both_roles_unless_a_fault_hits_one() -> None:
    w = parse_workload({"task": "tag", "args": ["a"]})
    assert urls(case(w)) == ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1")
    assert urls(case(w, faults=FaultSteps(("def fault_1():\n    pass\n",), (), True)))[1] == \
        "redis://127.0.0.1:6380/0"
    assert urls(case(w, backend="database"))[1] == "db+sqlite:///results.sqlite"
