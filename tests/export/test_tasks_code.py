"""The exported tasks compute what the model's ops compute, as plain Celery tasks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from chord_chaos.export.tasks_code import TASKS, tasks_py
from chord_chaos.models.ops import OPS, ExpectedException

CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("identity", ([1, "a"],)), ("add", (2, 3)), ("add", ([1], [2], [3])), ("add", ("a", "b")),
    ("mul", (3, 4)), ("tsum", ([1, 2, 3],)), ("xsum", ([1, [2, 3], 4],)), ("sleep", (0, "v")),
    ("sleep", (0.01,)), ("tag", ("a", ["b"], 3)), ("tag", ()), ("retry", (0, "v")),
]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Any:
    where = tmp_path_factory.mktemp("plain")
    (where / "tasks.py").write_text(tasks_py(set(TASKS)))
    app = Celery("exported-tasks-test", set_as_current=True)
    sys.path.insert(0, str(where))
    try:
        import tasks as module  # type: ignore[import-not-found]  # the exported file, as a worker imports it

        app.finalize(auto=True)
        yield module
    finally:
        sys.path.remove(str(where))
        sys.modules.pop("tasks", None)


def test_every_op_has_a_plain_task() -> None:
    assert set(TASKS) == set(OPS)


@pytest.mark.parametrize(("op", "args"), CALLS, ids=[f"{op}{args}" for op, args in CALLS])
def test_a_plain_task_returns_what_the_op_returns(tasks: Any, op: str, args: tuple[Any, ...]) -> None:
    assert getattr(tasks, op).run(*args) == OPS[op](*args)


def test_fail_raises_its_own_expected_exception_with_the_same_arguments(tasks: Any) -> None:
    with pytest.raises(tasks.ExpectedException) as plain:
        tasks.fail.run(1, "x")
    with pytest.raises(ExpectedException) as model:
        OPS["fail"](1, "x")
    assert plain.value.args == model.value.args
    assert type(plain.value).__name__ == type(model.value).__name__  # what get() reports


def test_the_errback_names_the_exception_class(tasks: Any) -> None:
    assert tasks.log_error.run(None, ValueError("x"), None) == "ValueError"
    assert OPS["log_error"](None, ValueError("x"), None) == "ValueError"


def test_only_the_ops_a_case_uses_are_written(tmp_path: Path) -> None:
    code = tasks_py({"tag", "fail"})
    assert "def tag(" in code and "def fail(" in code and "def add(" not in code
    assert "chord_chaos" not in code and "ledger" not in code
    with pytest.raises(ValueError, match="no plain task for op"):
        tasks_py({"teleport"})
