"""The user's settings reach every app the harness makes, last, merged over its own objects."""

from __future__ import annotations

import json

import pytest

from chord_chaos.harness.worker.app import make_app
from chord_chaos.harness.worker.settings_env import SETTINGS_VAR, user_settings
from chord_chaos.models.guarantees import CHAOS_TRANSPORT


def test_make_app_applies_the_settings_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTINGS_VAR, json.dumps({
        "worker_prefetch_multiplier": 4, "task_acks_late": False,
        "broker_transport_options": {"visibility_timeout": 30},
        "result_backend_transport_options": {"result_chord_ordered": False}}))
    conf = make_app("memory://", "cache+memory://", delivery="acks-late").conf
    assert conf.worker_prefetch_multiplier == 4  # over SPEED_SETTINGS
    assert conf.task_acks_late is False  # over the delivery configuration
    assert conf.broker_transport_options == {**CHAOS_TRANSPORT, "visibility_timeout": 30}
    assert conf.result_backend_transport_options == {"result_chord_ordered": False}
    assert conf.task_serializer == "json"


def test_without_settings_the_harness_keeps_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTINGS_VAR, raising=False)
    conf = make_app("memory://", "cache+memory://").conf
    assert conf.worker_prefetch_multiplier == 1 and conf.result_backend_transport_options == {}


def test_a_variable_that_is_not_an_object_is_refused() -> None:
    assert user_settings({SETTINGS_VAR: ""}) == {}
    with pytest.raises(ValueError, match="must hold a JSON object"):
        user_settings({SETTINGS_VAR: "[1]"})
