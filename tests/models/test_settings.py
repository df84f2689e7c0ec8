"""The settings table: what the harness refuses, what each known setting relaxes, which delivery
configuration a run has, and the settings the model does not know."""

from __future__ import annotations

from typing import Any

import pytest

from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import LOSSY, SLOW, WORKER_KILL
from chord_chaos.models.guarantees import DELIVERIES, PROPERTIES, VISIBILITY_TIMEOUT
from chord_chaos.models.semantics import predict
from chord_chaos.models.settings import (
    CHORD_ORDER,
    FORBIDDEN,
    KNOWN,
    SettingsError,
    check_settings,
    delivery_in_force,
    names,
    relaxations,
    settings_markdown,
    unmodelled,
    with_canvas_settings,
)
from chord_chaos.models.vocabulary import DeliveryName
from tests.helpers import REPO_ROOT

UNORDERED = {"result_backend_transport_options": {"result_chord_ordered": False}}


def _relaxed(settings: dict[str, Any], backend: str = "redis", delivery: str = "acks-early",
             faults: tuple[str, ...] = (), timeout: float = 30.0) -> dict[str, tuple[str, ...]]:
    return {r.name: r.relaxes for r in relaxations(settings, backend=backend,
                                                    delivery=DELIVERIES[delivery],
                                                    fault_classes=faults, timeout=timeout)}


def test_chord_order_is_relaxed_only_on_redis_and_only_when_turned_off() -> None:
    assert _relaxed(UNORDERED) == {CHORD_ORDER: (CHORD_ORDER,)}
    assert _relaxed(UNORDERED, backend="database") == {}  # chord_unlock joins in header order
    assert _relaxed({"result_backend_transport_options": {"result_chord_ordered": True}}) == {}
    assert _relaxed({}) == {}


def test_every_relaxation_names_real_properties_and_cites_why() -> None:
    settings = {**UNORDERED, "result_expires": 5, "result_chord_join_timeout": 1.0,
                "broker_transport_options": {"visibility_timeout": 2}}
    found = relaxations(settings, backend="redis", delivery=DELIVERIES["acks-late"],
                        fault_classes=(WORKER_KILL,), timeout=30.0)
    assert {r.name for r in found} == {CHORD_ORDER, "expiry", "chord-join", "visibility"}
    for r in found:
        assert set(r.relaxes) <= {*PROPERTIES, CHORD_ORDER} and r.why and r.setting


def test_result_expiry_relaxes_liveness_only_within_the_runs_timeout_on_redis() -> None:
    assert _relaxed({"result_expires": 5}) == {"expiry": ("liveness", "at_least_once")}
    assert _relaxed({"result_chord_expires": 5}) == {"expiry": ("liveness", "at_least_once")}
    assert _relaxed({"result_expires": 3600}) == {}  # outlives the run
    assert _relaxed({"result_expires": None}) == {} and _relaxed({"result_expires": 0}) == {}
    assert _relaxed({"result_expires": 5}, backend="database") == {}  # only a beat task expires them


def test_a_short_chord_join_timeout_relaxes_what_a_failed_join_breaks() -> None:
    assert _relaxed({"result_chord_join_timeout": 0.5}) == {
        "chord-join": ("liveness", "at_least_once", "exact_outcome")}
    assert _relaxed({"result_chord_join_timeout": 3.0}) == {}  # Celery's default
    assert _relaxed({"result_chord_join_timeout": 10}) == {}
    # unbounded: the dispatch claim can lapse while a fault slows the join, on Redis
    assert _relaxed({"result_chord_join_timeout": None}) == {}
    assert _relaxed({"result_chord_join_timeout": None}, faults=(SLOW,)) == {
        "chord-join": ("at_most_once",)}
    assert _relaxed({"result_chord_join_timeout": None}, backend="database", faults=(SLOW,)) == {}


def test_visibility_timeout_short_duplicates_long_outlives_the_recovery_window() -> None:
    short = {"broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT / 2}}
    long = {"broker_transport_options": {"visibility_timeout": 3600}}
    assert _relaxed(short) == {"visibility": ("at_most_once",)}
    assert _relaxed(long) == {}  # nothing needs redelivering without faults
    assert _relaxed(long, delivery="acks-late", faults=(LOSSY,)) == {}
    assert _relaxed(long, delivery="acks-early", faults=(WORKER_KILL,)) == {}  # already not promised
    assert _relaxed(long, delivery="acks-late", faults=(WORKER_KILL,)) == {
        "visibility": ("liveness", "at_least_once", "exact_outcome")}


def test_the_delivery_in_force_follows_acks_late_and_reject() -> None:
    assert delivery_in_force(None, {}) == DeliveryName.ACKS_EARLY
    assert delivery_in_force("acks-late", {}) == DeliveryName.ACKS_LATE
    assert delivery_in_force(None, {"task_acks_late": True}) == DeliveryName.ACKS_LATE
    assert delivery_in_force("acks-early", {"task_acks_late": True,
                                            "task_reject_on_worker_lost": True}) == "acks-late-reject"
    assert delivery_in_force("acks-late-reject", {"task_acks_late": False}) == "acks-early"
    # reject_on_worker_lost means nothing without acks late (Celery's docs)
    assert delivery_in_force(None, {"task_reject_on_worker_lost": True}) == "acks-early"
    assert delivery_in_force("acks-late", {"task_reject_on_worker_lost": True}) == "acks-late-reject"


def test_header_errbacks_from_the_settings_change_the_prediction_unless_the_canvas_says() -> None:
    canvas = {"chord": {"header": [{"task": "fail", "args": ["h"]}], "body": {"task": "tsum"}},
              "link_error": {"task": "log_error"}}
    on = {"task_allow_error_cb_on_chord_header": True}
    plain = parse_workload(canvas)
    assert predict(with_canvas_settings(plain, on)).executions["$.link_error"] == 2
    assert predict(plain).executions["$.link_error"] == 1
    own = parse_workload({"canvas": canvas, "config": {"task_allow_error_cb_on_chord_header": False}})
    assert with_canvas_settings(own, on) == own  # the canvas's own value wins
    assert with_canvas_settings(plain, {}) is plain


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_settings_that_break_the_harness_are_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} cannot be set with --config: "):
        check_settings({name: None})


@pytest.mark.parametrize("key", ["global_keyprefix", "unacked_key"])
def test_broker_transport_keys_the_probe_reads_are_refused(key: str) -> None:
    with pytest.raises(SettingsError, match=f"broker_transport_options.{key} cannot be set"):
        check_settings({"broker_transport_options": {key: "x"}})


@pytest.mark.parametrize(("settings", "message"), [
    ({"task_acks_late": "yes"}, 'task_acks_late must be true or false, got "yes"'),
    ({"result_backend_transport_options": {"result_chord_ordered": 0}},
     "result_chord_ordered must be true or false, got 0"),
    ({"result_backend_transport_options": []}, "result_backend_transport_options must be an object"),
    ({"broker_transport_options": {"visibility_timeout": 0}},
     "visibility_timeout must be a number above 0, got 0"),
    ({"broker_transport_options": {"visibility_timeout": None}}, "must be a number above 0, got null"),
    ({"result_expires": -1}, "result_expires must be a number at least 0 or null, got -1"),
    ({"result_chord_join_timeout": True}, "must be a number above 0 or null, got true"),
    ({"worker_prefetch_multiplier": 1.5}, "worker_prefetch_multiplier must be an integer, got 1.5"),
])
def test_known_settings_of_the_wrong_type_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        check_settings(settings)


def test_settings_the_model_does_not_know_are_named_with_transport_keys_dotted() -> None:
    settings = {**UNORDERED, "task_acks_late": True, "task_time_limit": 5,
                "result_backend_transport_options": {"result_chord_ordered": False,
                                                     "global_keyprefix": "p"},
                "broker_transport_options": {"visibility_timeout": 20, "max_connections": 4}}
    assert unmodelled(settings) == ("broker_transport_options.max_connections",
                                    "result_backend_transport_options.global_keyprefix",
                                    "task_time_limit")
    assert unmodelled({name: None for name in KNOWN if "." not in name}) == ()
    assert names({"broker_transport_options": {}}) == ["broker_transport_options"]
    assert unmodelled({"broker_transport_options": {}}) == ()
    check_settings(settings)  # unmodelled is not refused


def test_readme_holds_the_table_of_known_settings() -> None:
    assert settings_markdown() in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
