"""The user's Celery settings (``--config``) on their way to the client and every worker: a JSON
object in ``CC_CELERY_SETTINGS``, which workers inherit through the supervisor's environment.

``make_app`` applies them last, over the harness's own settings; where both are objects
(``broker_transport_options``, ``database_engine_options``) they are merged, the user's keys
winning. The CLI checks them before setting the variable (``cli/config_option.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

SETTINGS_VAR = "CC_CELERY_SETTINGS"


def user_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings in force for this process's clusters ({} without ``--config``)."""
    text = (os.environ if environ is None else environ).get(SETTINGS_VAR)
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{SETTINGS_VAR} must hold a JSON object, got {text[:80]!r}")
    return value


def over(current: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as an update of ``current``: objects merged, the settings' keys winning."""
    out = {}
    for name, value in settings.items():
        mine = current.get(name)
        out[name] = {**mine, **value} if isinstance(value, dict) and isinstance(mine, dict) else value
    return out
