"""``--config FILE``: a Python module or a JSON object of Celery settings, checked against the
running Celery; every bad input is one line and exit 2, before any process starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chord_chaos.cli.config_option import (
    adopt_settings,
    apply_config,
    celery_setting_names,
    check_delivery,
    load_settings,
)
from chord_chaos.cli.input import UsageError
from chord_chaos.cli.main import main
from chord_chaos.harness.worker.settings_env import SETTINGS_VAR, over, user_settings

GOOD_PY = '''
import os
from datetime import timedelta

task_acks_late = True
result_backend_transport_options = {"result_chord_ordered": False}
broker_transport_options = dict(visibility_timeout=20)
worker_prefetch_multiplier = 4
task_time_limit = int(os.environ.get("NOT_SET_ANYWHERE", "60"))
_helper = timedelta(seconds=3)  # private: not a setting


def helper() -> int:  # a function: not a setting
    return 1
'''


def _write(tmp_path: Path, text: str, name: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_python_module_gives_its_public_values(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, GOOD_PY, "settings.py")) == {
        "task_acks_late": True,
        "result_backend_transport_options": {"result_chord_ordered": False},
        "broker_transport_options": {"visibility_timeout": 20},
        "worker_prefetch_multiplier": 4,
        "task_time_limit": 60,
    }


def test_a_json_object_gives_its_settings_as_the_workers_will_see_them(tmp_path: Path) -> None:
    settings = {"task_acks_late": True, "result_expires": 120, "task_annotations": {"*": {}}}
    assert load_settings(_write(tmp_path, json.dumps(settings), "s.json")) == settings
    assert load_settings(_write(tmp_path, "{}", "empty.json")) == {}


def test_apply_config_hands_the_settings_to_every_cluster_of_the_process(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    path = _write(tmp_path, '{"result_backend_transport_options": {"result_chord_ordered": false}}',
                  "s.json")
    apply_config(path, env)
    assert user_settings(env) == {"result_backend_transport_options": {"result_chord_ordered": False}}
    assert user_settings({}) == {}


def test_settings_merge_over_the_harness_objects_the_users_keys_winning() -> None:
    harness = {"broker_transport_options": {"visibility_timeout": 10, "unacked_restore_interval": 1},
               "task_acks_late": False}
    user = {"broker_transport_options": {"visibility_timeout": 30}, "task_acks_late": True}
    assert over(harness, user) == {
        "broker_transport_options": {"visibility_timeout": 30, "unacked_restore_interval": 1},
        "task_acks_late": True}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("missing.json", None, "no such file; give a JSON object of Celery settings, or a .py module"),
    ("bad.json", "{task_acks_late: true}", "not valid JSON (Expecting property name enclosed in "
                                           "double quotes at line 1 column 2)"),
    ("list.json", "[1, 2]", 'a JSON list, not an object; give a JSON object of Celery settings, '
                            'or a .py module, e.g. {"task_acks_late": true}'),
    ("latin1.json", "\udcff", "cannot read (UnicodeDecodeError)"),
    ("raises.py", "import sys\nraise RuntimeError('no\\nsuch host')\n",
     "importing it raised RuntimeError: no such host; fix the module"),
    ("exits.py", "raise SystemExit(3)\n", "importing it raised SystemExit: 3"),
    ("td.py", "from datetime import timedelta\nresult_expires = timedelta(hours=1)\n",
     "result_expires: its value (timedelta) cannot be passed to the workers as JSON"),
    ("nan.py", "result_expires = float('nan')\n", "result_expires: its value (float) cannot be passed"),
    ("typo.json", '{"task_acks_lat": true}', "task_acks_lat is not a Celery setting; did you mean "
                                             "task_acks_late?"),
    ("typo.py", "worker_prefech_multiplier = 1\n", "worker_prefech_multiplier is not a Celery setting "
                                                   "(name a helper _like_this); did you mean "
                                                   "worker_prefetch_multiplier?"),
    ("nothing.json", '{"zzzz": 1}', "zzzz is not a Celery setting; see Celery's configuration reference"),
    ("old.json", '{"CELERY_ACKS_LATE": true}', "CELERY_ACKS_LATE is an old-style setting name; write "
                                               "task_acks_late"),
    ("subtypo.json", '{"result_backend_transport_options": {"result_chord_orderd": false}}',
     "result_backend_transport_options.result_chord_orderd is not an option the model knows; did "
     "you mean result_backend_transport_options.result_chord_ordered?"),
    ("queue.json", '{"task_default_queue": "mine"}', "task_default_queue cannot be set with --config: "
                                                     "the harness's workers consume its own queue"),
    ("backend.py", "result_backend = 'redis://elsewhere'\n", "result_backend cannot be set with "
                                                              "--config"),
    ("eager.json", '{"task_always_eager": true}', "eager mode runs tasks inside the client"),
    ("serializer.json", '{"task_serializer": "pickle"}', "the harness sends, stores and accepts JSON"),
    ("prefix.json", '{"broker_transport_options": {"global_keyprefix": "p"}}',
     "broker_transport_options.global_keyprefix cannot be set with --config"),
    ("type.json", '{"task_acks_late": "yes"}', 'task_acks_late must be true or false, got "yes"'),
])
def test_bad_config_is_one_line_naming_the_file(tmp_path: Path, name: str, text: str | None,
                                                message: str) -> None:
    path = tmp_path / name
    if text == "\udcff":
        path.write_bytes(b'{"task_acks_late": "\xff"}')
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_settings(str(path))
    line = str(info.value)
    assert line.startswith(f"{path}: ") and "\n" not in line
    assert message in line, line


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read \(IsADirectoryError\)"):
        load_settings(str(tmp_path))


def test_names_are_the_running_celerys() -> None:
    names = celery_setting_names()
    assert {"task_acks_late", "result_chord_join_timeout", "worker_prefetch_multiplier",
            "result_backend_transport_options", "broker_transport_options"} <= names
    assert "result_chord_ordered" not in names  # a transport option, not a setting


def test_replay_adopts_a_reports_settings_checked_as_a_files() -> None:
    env: dict[str, str] = {}
    assert adopt_settings({"task_acks_late": True}, "r.json", env) == {"task_acks_late": True}
    assert json.loads(env[SETTINGS_VAR]) == {"task_acks_late": True}
    with pytest.raises(UsageError, match=r"^r\.json: broker_url cannot be set"):
        adopt_settings({"broker_url": "redis://x"}, "r.json", {})


def test_delivery_and_config_must_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTINGS_VAR, json.dumps({"task_acks_late": True}))
    check_delivery("acks-late")
    with pytest.raises(UsageError, match=r"^--delivery acks-early conflicts with --config's "
                                         r"task_acks_late=true \(which make it acks-late\); drop one"):
        check_delivery("acks-early")
    monkeypatch.delenv(SETTINGS_VAR)
    check_delivery("acks-early")


@pytest.mark.parametrize("command", [
    ["run", "CANVAS", "--config", "CONFIG"],
    ["run", "CANVAS", "--faults", "PLAN", "--delivery", "acks-early", "--config", "GOODCONFIG"],
    ["fuzz", "--budget", "1", "--config", "CONFIG"],
    ["chaos", "--budget", "1", "--config", "GOODCONFIG", "--compose"],
])
def test_commands_refuse_bad_config_before_any_cluster(tmp_path: Path, command: list[str],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SETTINGS_VAR, "")  # restored after the test: apply_config sets it
    files = {"CANVAS": _write(tmp_path, '{"task": "add", "args": [1, 2]}', "c.json"),
             "PLAN": _write(tmp_path, '{"faults": []}', "plan.json"),
             "CONFIG": _write(tmp_path, '{"task_acks_lte": true}', "bad.json"),
             "GOODCONFIG": _write(tmp_path, '{"task_acks_late": true}', "good.json")}
    argv: list[Any] = [files.get(a, a) for a in command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chord-chaos: ") and "\n" not in err, err
    assert ("did you mean task_acks_late" in err or "conflicts with --config" in err
            or "does not reach docker-compose" in err), err


# ---------------------------------------------------------------- on real workers

# The header's slow task ends last: in header order its result comes first, in completion order
# last, so the body's input says which order the Redis backend stored.
SLOW_FIRST = {"chord": {"header": [{"task": "sleep", "args": [0.8, "a"]}, {"task": "tag", "args": ["b"]}],
                        "body": {"task": "tag", "args": ["x"]}}}
BODY = "$.chord.body"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, lines
    return code, json.loads(lines[0])


def _body_input(line: dict[str, Any]) -> Any:
    history = json.loads(Path(line["history"]).read_text(encoding="utf-8"))
    starts = [e for e in history["events"] if e["ev"] == "start" and e["node"] == BODY]
    assert len(starts) == 1
    return starts[0]["args"][0], history


@pytest.mark.cluster
def test_result_chord_ordered_off_reaches_the_workers_and_relaxes_the_order_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SETTINGS_VAR, "")  # restored after the test: apply_config sets it
    canvas = _write(tmp_path, json.dumps(SLOW_FIRST), "c.json")
    settings = {"result_backend_transport_options": {"result_chord_ordered": False},
                "task_acks_late": True, "task_track_started": True}
    config = _write(tmp_path, json.dumps(settings), "unordered.json")

    code, plain = _run(["run", canvas, "--report-dir", str(tmp_path / "plain"), "--timeout", "10"],
                       capsys)
    assert code == 0 and plain["verdict"] == "pass" and "relaxed" not in plain, plain
    got, _ = _body_input(plain)
    assert got == ["a", ["b"]]  # Celery's default: header order (a sorted set by header index)

    code, line = _run(["run", canvas, "--config", config, "--report-dir", str(tmp_path / "unordered"),
                       "--timeout", "10"], capsys)
    assert code == 0 and line["verdict"] == "pass", line
    assert [r["name"] for r in line["relaxed"]] == ["chord-order"]
    assert line["unmodelled_settings"] == ["task_track_started"]
    got, history = _body_input(line)
    assert got == [["b"], "a"]  # completion order: the workers ran with the setting
    assert line["observed"]["value"] == [[["b"], "a"], "x"] != line["predicted"]["value"]
    assert history["meta"]["settings"] == settings
    assert history["delivery"] == "acks-late"  # the configuration in force, from task_acks_late

    # the same history without its settings: the order is a violation again
    del history["meta"]["settings"]
    stripped = tmp_path / "stripped.json"
    stripped.write_text(json.dumps(history), encoding="utf-8")
    assert main(["analyze", str(stripped)]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert {(v["check"], v["node"]) for v in verdict["violations"]} >= {("inputs", BODY)}


@pytest.mark.cluster
def test_replay_reruns_a_report_under_the_settings_it_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import replace

    from chord_chaos.report.json_report import Origin, from_history, write
    from tests.helpers import chord_history, correct_chord_events

    monkeypatch.setenv(SETTINGS_VAR, "")  # restored after the test: replay sets it
    settings = {"result_backend_transport_options": {"result_chord_ordered": False},
                "task_track_started": True}
    history = replace(chord_history(correct_chord_events()), meta={"t0_mono_ns": 0, "settings": settings})
    report = write(from_history(history, tmp_path / "h.json"), Origin(), tmp_path, "recorded")
    main(["replay", str(report), "--times", "1", "--report-dir", str(tmp_path / "replays")])
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    replayed = json.loads(Path(line["history"]).read_text(encoding="utf-8"))
    assert replayed["meta"]["settings"] == settings
    assert line["verdict"] == "pass"
