"""The command line: predict answers, bad input is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chord_chaos.cli.main import main
from chord_chaos.models.canvas import parse_workload

CHORD = {"chord": {"header": [{"task": "add", "args": [2, 2]}, {"task": "add", "args": [4, 4]}],
                   "body": {"task": "tsum"}}}


def _write(tmp_path: Path, obj: object, name: str = "c.json") -> str:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def test_predict_prints_one_json_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", _write(tmp_path, CHORD)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "SUCCESS" and out["value"] == 12
    assert out["executions"] == {"$.chord.header[0]": 1, "$.chord.header[1]": 1, "$.chord.body": 1}


def test_predict_failure_names_the_exception(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    canvas = {"chain": [{"task": "fail"}, {"task": "identity"}]}
    assert main(["predict", _write(tmp_path, canvas)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "FAILURE" and out["error"] == "ExpectedException"
    assert out["executions"]["$.chain[1]"] == 0


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", "invalid JSON"),
    ({"task": "nope"}, "$.task: unknown op 'nope'"),
    ({"chord": {"header": []}}, "$.chord: chord without body"),
    ({"group": {"task": "tag"}}, "$.group: group must be a list"),
    ({"chain": [{"task": "tag"}, {"task": "mul", "args": [1, 2]}]},
     "$.chain[1]: mul would get 3 positional args"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          content: object, fragment: str) -> None:
    assert main(["predict", _write(tmp_path, content)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def _nested(levels: int) -> str:
    text = '{"task": "tag"}'
    for _ in range(levels):
        text = '{"chain": [' + text + ']}'
    return text


@pytest.mark.parametrize(("text", "fragment"), [
    (_nested(5000), "JSON nested too deeply to read"),  # past the JSON reader's own recursion
    (_nested(200), "nested deeper than 32 levels"),
    (json.dumps({"group": [{"task": "tag", "args": [i]} for i in range(501)]}),
     "501 tasks, more than the 500"),
])
def test_a_canvas_past_the_limits_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        text: str, fragment: str) -> None:
    path = tmp_path / "big.json"
    path.write_text(text)
    assert main(["predict", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_canvas_at_the_depth_limit_is_predicted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.json"
    path.write_text(_nested(32))  # a task 32 levels deep: the limit itself
    assert main(["predict", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == []


@pytest.mark.parametrize("argv", [["fuzz", "--budget", "0"], ["fuzz", "--workers", "0"]])
def test_fuzz_bad_input_is_exit_2_before_any_cluster(argv: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "must be" in err and err.count("\n") == 1


def test_fuzz_unknown_backend_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["fuzz", "--backend", "mongodb"])
    assert stop.value.code == 2 and "choose from 'redis', 'database', 'postgres'" in capsys.readouterr().err


def test_analyze_strict_reports_what_the_register_would_excuse(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from chord_chaos.check.known_issues import REGISTER
    from tests.check.runs import ran

    minimal = next(k for k in REGISTER if k.id == "celery-4004").minimal_canvas
    _, history = ran(minimal)
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history.to_json()))
    assert main(["analyze", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "register"
    assert main(["analyze", str(path), "--strict"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "strict" and out["verdict"] == "violation" and not out["known_issues"]


def test_predict_python_prints_the_canvas_as_celery_code(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from chord_chaos.models.python_code import from_python

    canvas = {"chain": [{"task": "tag", "args": ["a"]}, {"group": [{"task": "tag", "args": ["b"]},
                                                                   {"task": "tag", "args": ["c"]}]}]}
    assert main(["predict", _write(tmp_path, canvas), "--python"]) == 0
    code = capsys.readouterr().out
    assert "canvas = chain([tag.s('a'), group([tag.s('b'), tag.s('c')])])" in code
    assert from_python(code).canvas == parse_workload(canvas).canvas


def test_missing_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "/nonexistent/canvas.json"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "chord-chaos"
    proc = subprocess.run([str(exe), "predict", _write(tmp_path, CHORD)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"] == 12


@pytest.mark.parametrize(("argv", "missing"), [
    (["--broker", "rabbitmq"], "rabbitmq-server not found: install it with 'apt-get install "
                               "rabbitmq-server' (or run 'make setup')"),
    (["--backend", "postgres"], "PostgreSQL not found: install it with 'apt-get install postgresql' "
                                "(or run 'make setup')"),
])
def test_a_missing_server_is_one_line_and_exit_2_with_nothing_left_running(
        argv: list[str], missing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chord_chaos.harness.infra import postgres_server, rabbitmq_server
    from tests.helpers import descendants

    monkeypatch.setattr(rabbitmq_server, "SERVER_SCRIPTS", str(tmp_path / "none-*"))
    monkeypatch.setattr(postgres_server, "DEBIAN_ROOT", tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # redis-server is still found
    canvas = tmp_path / "c.json"
    canvas.write_text('{"task": "tag", "args": ["a"]}')
    before = descendants()
    assert main(["run", *argv, str(canvas), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"chord-chaos: {missing}"
    assert descendants() <= before  # the broker redis-server it may have started is gone


def test_scenarios_shows_where_each_runs_per_broker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    rows = {line.split()[0]: line.split()[1:4] for line in capsys.readouterr().out.splitlines()}
    assert rows["scenario"] == ["delivery", "redis", "broker"]
    assert rows["rabbitmq-restart-mid-chord"] == ["acks-late", "-", "redis/database/postgres"]
    assert rows["redis-restart-mid-chord"] == ["acks-late", "redis/database/postgres", "redis"]
    assert rows["postgres-restart-mid-chord"] == ["acks-late", "postgres", "postgres"]
