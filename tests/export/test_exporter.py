"""``chord-chaos export``: a report becomes a plain-Celery reproduction and an issue text; a
report it cannot read is one line and exit 2, and a fault plain tools cannot apply a comment."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chord_chaos.check.history import ClientView
from chord_chaos.check.known_issues import REGISTER
from chord_chaos.cli.main import main
from chord_chaos.models.faults import Anchor, Fault, FaultPlan
from chord_chaos.models.python_code import from_python
from chord_chaos.models.vocabulary import FaultKind
from chord_chaos.report.json_report import Origin, from_history, load, write
from tests.check.runs import ran

NESTED = next(k for k in REGISTER if k.id == "nested-group-order")
REVERSED = [["b"], ["a"], ["c"]]  # what Celery returns for NESTED's minimal canvas


def _report(tmp_path: Path, canvas: dict[str, Any], name: str = "r", plan: FaultPlan | None = None,
            origin: Origin | None = None, **planted: Any) -> Path:
    _, h = ran(canvas, **planted)
    h = replace(h, meta={**h.meta, "strict": True})
    if plan is not None:
        h = replace(h, faults=plan.to_json(), delivery="acks-early", meta={**h.meta, "chaos": True})
    return write(from_history(h, tmp_path / "h.json"), origin or Origin(), tmp_path, name)


def _export(path: Path, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, Path, str]:
    code = main(["export", str(path), *more])
    out, err = capsys.readouterr()
    return code, Path(json.loads(out)["export"]) if code == 0 else path, err


def test_a_registered_deviation_exports_as_an_issue_naming_its_entry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _report(tmp_path, NESTED.minimal_canvas, client=ClientView("SUCCESS", REVERSED), origin=Origin(
        reproduction={"reproduced": 5, "runs": 5, "rate": 1.0, "ci95": [0.566, 1.0]}))
    code, out, err = _export(path, capsys)
    assert (code, err, out) == (0, "", path.parent / "export")
    assert sorted(p.name for p in out.iterdir()) == ["ISSUE.md", "README.md", "repro.py", "tasks.py"]
    issue = (out / "ISSUE.md").read_text()
    assert issue.startswith("# A group nested in a chord header")
    assert "ordered by the order of which they were called" in issue  # Celery's words
    assert 'should return `[["a"], ["b"], ["c"]]`' in issue and 'returned `[["b"], ["a"], ["c"]]`' in issue
    assert "5 of 5 runs under chord-chaos (95 % interval 57%-100%)" in issue
    assert "`nested-group-order`" in issue and "Celery 5." in issue
    repro = (out / "repro.py").read_text()
    assert from_python(repro) == load(path).workload
    assert "EXPECTED = {'status': 'SUCCESS', 'value': [['a'], ['b'], ['c']]}" in repro
    for name in ("repro.py", "tasks.py"):  # plain Celery: nothing of chord-chaos
        tree = ast.parse((out / name).read_text())
        assert not any("chord_chaos" in ast.unparse(n) for n in ast.walk(tree)
                       if isinstance(n, ast.Import | ast.ImportFrom))
    readme = (out / "README.md").read_text()
    assert readme.split("```sh\n")[2].split("```")[0].splitlines() == [
        "redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no &",
        "celery -A repro worker --concurrency 2 --loglevel INFO &", "python repro.py"]


def test_the_issue_quotes_the_last_replay_s_rate_over_the_campaign_s(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chord_chaos.report.json_report import record_rate

    path = _report(tmp_path, NESTED.minimal_canvas, client=ClientView("SUCCESS", REVERSED), origin=Origin(
        reproduction={"reproduced": 2, "runs": 3, "rate": 0.667, "ci95": [0.21, 0.94]}))
    code, out, _ = _export(path, capsys)
    assert code == 0
    assert "2 of 3 runs under chord-chaos (95 % interval 21%-94%)" in (out / "ISSUE.md").read_text()
    record_rate(path, {"reproduced": 10, "runs": 10, "rate": 1.0, "ci95": [0.722, 1.0]}, strict=True)
    code, out, _ = _export(path, capsys)
    assert "10 of 10 runs under `chord-chaos replay` on 20" in (out / "ISSUE.md").read_text()
    (path.parent / "replay-rate.json").write_text("{broken")
    code, out, _ = _export(path, capsys)
    assert code == 0 and "2 of 3 runs" in (out / "ISSUE.md").read_text()


def test_an_other_deviation_in_the_same_shape_names_no_register_entry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _report(tmp_path, NESTED.minimal_canvas, client=ClientView("SUCCESS", [["a"], ["c"]]))
    code, out, _ = _export(path, capsys, "--out", str(tmp_path / "x"))
    issue = (out / "ISSUE.md").read_text()
    assert code == 0 and out == tmp_path / "x"
    assert issue.startswith("# outcome violated: get() returned")
    assert "nested-group-order" not in issue and "## Related" not in issue


def test_a_deviation_get_does_not_show_is_said_to_be_in_the_worker_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    canvas = {"chord": {"header": [{"task": "tag", "args": ["a"]}], "body": {"task": "tag", "args": ["z"]}}}
    path = _report(tmp_path, canvas, times={"$.chord.header[0]": 2}, resolved=True)
    code, out, err = _export(path, capsys)
    assert code == 0 and "get()'s outcome" in err and len(err.splitlines()) == 1
    assert "does not change what `get()` returns" in (out / "README.md").read_text()
    assert "`executions` at `$.chord.header[0]`: $.chord.header[0] ran 2 time(s); expected 1" in \
        (out / "ISSUE.md").read_text()


def test_a_fault_plain_tools_cannot_apply_is_a_commented_step(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    canvas = {"chord": {"header": [{"task": "sleep", "args": [1, "a"]}],
                        "body": {"task": "tag", "args": ["z"]}}}
    plan = FaultPlan((Fault(FaultKind.LATENCY, "w0.broker", 0.1, 0.3, {"latency": 50}),
                      Fault(FaultKind.KILL_CHILD, "@anchor", 0.0, 1.0, anchor=Anchor("start", "header", 1))))
    path = _report(tmp_path, canvas, plan=plan, skip=("$.chord.body",), resolved=False)
    code, out, err = _export(path, capsys)
    assert code == 0 and "1 fault(s) need a proxy" in err
    repro = (out / "repro.py").read_text()
    compile(repro, "repro.py", "exec")
    assert "#   - latency (latency=50) on the link w0.broker" in repro
    assert "chord-chaos replay" in repro and "def fault_1():" in repro and "def fault_2" not in repro
    assert "FAULT_FAILURE_ALLOWED = True" in repro  # acks early + a killed child: WorkerLostError is allowed
    assert "task_acks_late=False" in repro  # the run's delivery configuration
    issue = (out / "ISSUE.md").read_text()
    assert "kill_child @anchor" in issue and "needs a proxy" in issue


@pytest.mark.parametrize("content", ["{", '{"format": "chord-chaos-report/1"}', "not json"])
def test_a_report_that_cannot_be_read_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(content)
    assert main(["export", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "report" in err
    assert not (tmp_path / "export").exists()


def test_a_run_without_a_violation_has_nothing_to_export(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _report(tmp_path, NESTED.minimal_canvas, resolved=True)
    assert main(["export", str(path)]) == 2
    assert "nothing to export" in capsys.readouterr().err


def test_an_unwritable_destination_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _report(tmp_path, NESTED.minimal_canvas, client=ClientView("SUCCESS", REVERSED))
    (tmp_path / "file").write_text("")
    assert main(["export", str(path), "--out", str(tmp_path / "file" / "x")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--out" in err




def test_a_checkout_run_installs_that_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, h = ran(NESTED.minimal_canvas, client=ClientView("SUCCESS", REVERSED))
    h = replace(h, meta={**h.meta, "strict": True,
                         "celery": {"spec": "/src/celery", "path": "/src/celery", "commit": "abc123"}})
    path = write(from_history(h, tmp_path / "h.json"), Origin(), tmp_path, "checkout")
    code, out, _ = _export(path, capsys)
    assert code == 0 and "pip install -e '/src/celery[redis]'\n" in (out / "README.md").read_text()
