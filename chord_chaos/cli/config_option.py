"""``--config FILE``: Celery settings for the client and every worker.

FILE is a Python module (``.py``: its public names that are not modules, classes or functions)
or a JSON object (any other name). Each name must be a setting of the running Celery
(``celery.app.defaults.SETTING_KEYS``, lowercase); a typo is refused with the closest real
setting. The harness refuses the settings that would make it misbehave
(``models/settings.FORBIDDEN``). Values must survive JSON, since that is how they reach the
workers (``CC_CELERY_SETTINGS``, applied last by ``make_app``). Every problem is one line and
exit code 2, before any process starts.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import os
import types
import uuid
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from chord_chaos.cli.input import UsageError
from chord_chaos.harness.worker.settings_env import SETTINGS_VAR, user_settings
from chord_chaos.models.settings import (
    BROKER_TRANSPORT,
    CHORD_ORDERED,
    RESULT_TRANSPORT,
    VISIBILITY,
    SettingsError,
    check_settings,
    delivery_in_force,
)

_KNOWN_KEYS = {RESULT_TRANSPORT: CHORD_ORDERED.partition(".")[2],
               BROKER_TRANSPORT: VISIBILITY.partition(".")[2]}


def apply_config(path: str, environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Load and check FILE, and hand its settings to every cluster this process starts."""
    settings = load_settings(path)
    (os.environ if environ is None else environ)[SETTINGS_VAR] = json.dumps(settings)
    return settings


def adopt_settings(settings: Mapping[str, Any], source: str,
                   environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Apply settings a saved run recorded (``replay``), checked as a file's would be."""
    checked = _checked(dict(settings), source)
    (os.environ if environ is None else environ)[SETTINGS_VAR] = json.dumps(checked)
    return checked


def check_delivery(delivery: str) -> None:
    """``--delivery`` and the settings' ``task_acks_late``/``task_reject_on_worker_lost`` must
    agree: the history records the configuration in force, and a silent override would hide it."""
    settings = user_settings()
    in_force = delivery_in_force(delivery, settings)
    if in_force != delivery:
        given = ", ".join(f"{k}={json.dumps(settings[k])}" for k in
                          ("task_acks_late", "task_reject_on_worker_lost") if k in settings)
        raise UsageError(f"--delivery {delivery} conflicts with --config's {given} (which make it "
                         f"{in_force}); drop one of them")


def load_settings(path: str) -> dict[str, Any]:
    raw = _read_module(path) if path.endswith(".py") else _read_json(path)
    return _checked(raw, path)


def _checked(raw: dict[str, Any], source: str) -> dict[str, Any]:
    for name in raw:
        _check_name(name, source)
    for top, key in _KNOWN_KEYS.items():
        options = raw.get(top)
        for given in options if isinstance(options, dict) else {}:
            if given != key and difflib.get_close_matches(given, [key], n=1, cutoff=0.8):
                raise UsageError(f"{source}: {top}.{given} is not an option the model knows; did "
                                 f"you mean {top}.{key}?")
    settings = {name: _as_json(name, value, source) for name, value in raw.items()}
    try:
        check_settings(settings)
    except SettingsError as exc:
        raise UsageError(f"{source}: {exc}") from None
    return settings


@functools.cache
def celery_setting_names() -> frozenset[str]:
    """The settings of the running Celery (lowercase, the only names a config may use here)."""
    from celery.app import defaults

    keys = getattr(defaults, "SETTING_KEYS", None)
    if keys is None:  # pragma: no cover - every Celery 4.x and 5.x has it
        keys = {name for name, _ in defaults.flatten(defaults.NAMESPACES)}
    return frozenset(keys)


def _check_name(name: str, source: str) -> None:
    known = celery_setting_names()
    if name in known:
        return
    from celery.app import defaults

    new = getattr(defaults, "_TO_NEW_KEY", {}).get(name)
    if new:
        raise UsageError(f"{source}: {name} is an old-style setting name; write {new}")
    close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see Celery's configuration reference"
    private = " (name a helper _like_this)" if source.endswith(".py") else ""
    raise UsageError(f"{source}: {name} is not a Celery setting{private}; {hint}")


def _as_json(name: str, value: Any, source: str) -> Any:
    """The value as the workers will see it (tuples become lists); one line if it cannot be."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{source}: {name}: its value ({type(value).__name__}) cannot be passed to "
                         f"the workers as JSON ({_one_line(exc)}); give numbers (seconds), "
                         "strings, booleans, lists and objects") from None


def _read_text(path: str, kind: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give {kind}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc.__class__.__name__}); give {kind}") from None


def _read_json(path: str) -> dict[str, Any]:
    kind = "a JSON object of Celery settings, or a .py module"
    text = _read_text(path, kind)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}); give {kind}") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to read; give {kind}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path}: a JSON {type(value).__name__}, not an object; give {kind}, e.g. "
                         '{"task_acks_late": true}')
    return value


def _read_module(path: str) -> dict[str, Any]:
    """The module's settings: its public names, bar modules, classes and functions."""
    kind = "a Python module of Celery settings"
    _read_text(path, kind)  # the same one-liners as for a JSON file
    spec = importlib.util.spec_from_file_location(f"_cc_config_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported; give {kind}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise UsageError(f"{path}: importing it raised {type(exc).__name__}: {_one_line(exc)}; "
                         "fix the module") from None
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and not callable(value)
            and not isinstance(value, types.ModuleType)}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
