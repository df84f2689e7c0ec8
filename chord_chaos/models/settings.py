"""Celery settings a user applies with ``--config``, as data: which ones the harness refuses,
which ones the model knows and what each changes, and which ones it does not know.

The settings reach the client and every worker (``harness/worker/app.py`` applies them last);
each run's History records them (``meta["settings"]``), so a saved run is re-checked with the
same relaxations. A setting changes a run's judgement in one of four ways:

* it picks the delivery configuration in force (``task_acks_late``,
  ``task_reject_on_worker_lost``): the run records that one, and its guarantees are checked;
* it changes the prediction (``task_allow_error_cb_on_chord_header``: the default of every
  canvas's own ``config``; a canvas's own value wins);
* it relaxes a promise: a ``Relaxation`` names the properties that are no longer checked (a
  finding of one becomes an anomaly) and why, citing Celery; the verdict lists them;
* none (known, no effect on the prediction), or unknown to the model: an *unmodelled* setting
  is applied, and the verdict names it, so a pass says nothing about it.

Pure: no Celery here. Checking names against the running Celery is the loader's
(``cli/config_option.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chord_chaos.models.canvas import Workload
from chord_chaos.models.faults import WORKER_KILL
from chord_chaos.models.guarantees import CITE, DELIVERIES, DOCS, VISIBILITY_TIMEOUT, Delivery
from chord_chaos.models.vocabulary import Backend, DeliveryName

Settings = Mapping[str, Any]

RESULT_TRANSPORT = "result_backend_transport_options"
BROKER_TRANSPORT = "broker_transport_options"
CHORD_ORDERED = f"{RESULT_TRANSPORT}.result_chord_ordered"
VISIBILITY = f"{BROKER_TRANSPORT}.visibility_timeout"
CHORD_JOIN_DEFAULT = 3.0  # Celery's result_chord_join_timeout

CHORD_ORDER = "chord-order"  # a relaxation of the body's input order, not a Promise property
_ORDERING = f"{DOCS}/getting-started/backends-and-brokers/redis.html#redis-group-result-ordering"
_JOIN = f"{DOCS}/userguide/configuration.html#result-chord-join-timeout"
_EXPIRES = f"{DOCS}/userguide/configuration.html#result-expires"

_HOSTS = "the harness starts its own broker and result backend (and proxies them on chaos clusters)"
_JSON = ("the ledger and the checks compare JSON values, so the harness sends, stores and "
         "accepts JSON only")
_EAGER = "eager mode runs tasks inside the client, not on the workers under test"
_QUEUES = "the harness's workers consume its own queue, so tasks routed elsewhere never run"
# Settings that would make the harness misbehave: setting -> why (and what to use instead).
FORBIDDEN: dict[str, str] = {
    "broker_url": _HOSTS, "broker_read_url": _HOSTS, "broker_write_url": _HOSTS,
    "broker_transport": _HOSTS, "result_backend": f"{_HOSTS}; use --backend",
    "database_url": "the harness's database backend is --database-url",
    "task_serializer": _JSON, "result_serializer": _JSON, "accept_content": _JSON,
    "result_accept_content": _JSON,
    "task_always_eager": _EAGER, "task_eager_propagates": _EAGER, "task_store_eager_result": _EAGER,
    "task_ignore_result": "the harness waits for every result",
    "task_default_queue": _QUEUES, "task_default_exchange": _QUEUES,
    "task_default_exchange_type": _QUEUES, "task_default_routing_key": _QUEUES,
    "task_queues": _QUEUES, "task_routes": _QUEUES, "task_create_missing_queues": _QUEUES,
    "imports": "the workers load the harness's instrumented app only",
    "include": "the workers load the harness's instrumented app only",
    "worker_concurrency": "use --concurrency",
    "worker_pool": "the harness runs prefork workers (kill_child kills pool processes)",
    "worker_enable_remote_control": "the harness pings every worker to know it is ready",
}
_PROBE = "the harness's broker probe reads the Redis transport's own key names"
FORBIDDEN_KEYS: dict[str, str] = {
    f"{BROKER_TRANSPORT}.global_keyprefix": _PROBE,
    f"{BROKER_TRANSPORT}.unacked_key": _PROBE,
}

# What each known setting changes (README.md's table is this one).
KNOWN: dict[str, str] = {
    CHORD_ORDERED: "false, on the Redis backend: chord-order relaxed (a body may get its header's "
                   "results in completion order)",
    "result_expires": "on the Redis backend, shorter than a run's timeout: liveness and "
                      "at-least-once relaxed (a result read after it expired reads as pending)",
    "result_chord_expires": "the same, for a chord's keys (the harness sets 60 s)",
    "result_chord_join_timeout": "below Celery's 3 s: liveness, at-least-once and the exact outcome "
                                 "relaxed; null: at-most-once relaxed under faults on Redis",
    VISIBILITY: "below the harness's 10 s: at-most-once relaxed; above it, with acks late: "
                "liveness, at-least-once and the exact outcome relaxed under worker kills",
    "task_acks_late": "picks the delivery configuration in force (true: acks-late), recorded in "
                      "the history; its guarantees are checked under faults",
    "task_reject_on_worker_lost": "the same (true, with acks late: acks-late-reject)",
    "worker_prefetch_multiplier": "no effect on the prediction (the harness sets 1)",
    "task_allow_error_cb_on_chord_header": "the default of every canvas's `config` (a canvas's own "
                                           "value wins): changes the prediction",
    "result_chord_retry_interval": "no effect on the prediction (chord_unlock never gives up; the "
                                   "harness sets 0.1 s)",
}
_BOOL = ("task_acks_late", "task_reject_on_worker_lost", "task_allow_error_cb_on_chord_header",
         CHORD_ORDERED)
# name -> (None allowed, the smallest value allowed, whether the smallest is excluded)
_NUMBERS: dict[str, tuple[bool, float, bool]] = {
    "result_expires": (True, 0.0, False), "result_chord_expires": (True, 0.0, False),
    "result_chord_join_timeout": (True, 0.0, True), "result_chord_retry_interval": (False, 0.0, True),
    VISIBILITY: (False, 0.0, True), "worker_prefetch_multiplier": (False, 0.0, False),
}


class SettingsError(ValueError):
    """A setting the harness cannot run with, or a value of the wrong type: one line."""


@dataclass(frozen=True)
class Relaxation:
    """A promise a setting takes back: ``relaxes`` names the properties (``guarantees.PROPERTIES``,
    or ``chord-order``) whose findings are anomalies, not violations, and ``why`` cites Celery."""

    name: str
    setting: str  # the setting and the value that causes it
    relaxes: tuple[str, ...]
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "setting": self.setting, "relaxes": list(self.relaxes),
                "why": self.why}


def value_of(settings: Settings, name: str, default: Any = None) -> Any:
    """A setting's value by its dotted name (``broker_transport_options.visibility_timeout``)."""
    top, _, key = name.partition(".")
    return settings.get(top, default) if not key else (settings.get(top) or {}).get(key, default)


def names(settings: Settings) -> list[str]:
    """Every setting given, the keys of the two transport-option objects by their dotted names."""
    out = []
    for top, value in settings.items():
        if top in (RESULT_TRANSPORT, BROKER_TRANSPORT) and isinstance(value, dict) and value:
            out += [f"{top}.{key}" for key in value]
        else:
            out.append(top)
    return out


def check_settings(settings: Settings) -> None:
    """Raise SettingsError for a setting the harness refuses, or a known one of the wrong type.
    Names are checked against Celery by the loader; values must already be JSON."""
    for name in names(settings):
        why = FORBIDDEN.get(name) or FORBIDDEN_KEYS.get(name)
        if why:
            raise SettingsError(f"{name} cannot be set with --config: {why}")
    for top in (RESULT_TRANSPORT, BROKER_TRANSPORT):
        if top in settings and not isinstance(settings[top], dict):
            raise SettingsError(f"{top} must be an object, got {json.dumps(settings[top])}")
    for name in _BOOL:
        value = value_of(settings, name)
        if value is not None and not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false, got {json.dumps(value)}")
    for name, (nullable, least, open_) in _NUMBERS.items():
        top, _, key = name.partition(".")
        if top not in settings or (key and key not in settings[top]):
            continue
        value = value_of(settings, name)
        if value is None and nullable:
            continue
        if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                or value < least or (open_ and value == least)):
            bound = f"{'above' if open_ else 'at least'} {least:g}"
            raise SettingsError(f"{name} must be a number {bound}{' or null' if nullable else ''}, "
                                f"got {json.dumps(value)}")
    prefetch = settings.get("worker_prefetch_multiplier", 0)
    if not isinstance(prefetch, int):
        raise SettingsError(f"worker_prefetch_multiplier must be an integer, got {json.dumps(prefetch)}")


def unmodelled(settings: Settings) -> tuple[str, ...]:
    """The settings given that the model does not know: applied, but a pass says nothing of them."""
    return tuple(sorted(n for n in names(settings) if n not in KNOWN
                        and n not in (RESULT_TRANSPORT, BROKER_TRANSPORT)))


def delivery_in_force(base: str | None, settings: Settings) -> DeliveryName:
    """The delivery configuration a run has: the cluster's (``base``; Celery's default without
    one), with ``task_acks_late`` and ``task_reject_on_worker_lost`` from the settings winning.
    Without acks late, task_reject_on_worker_lost changes nothing (Celery's docs)."""
    d = DELIVERIES[base or DeliveryName.ACKS_EARLY]
    acks_late = bool(settings.get("task_acks_late", d.acks_late))
    reject = bool(settings.get("task_reject_on_worker_lost", d.reject_on_worker_lost))
    if not acks_late:
        return DeliveryName.ACKS_EARLY
    return DeliveryName.ACKS_LATE_REJECT if reject else DeliveryName.ACKS_LATE


def with_canvas_settings(workload: Workload, settings: Settings) -> Workload:
    """The workload under the settings: ``task_allow_error_cb_on_chord_header`` becomes its
    config's default (a canvas's own value wins)."""
    key = "task_allow_error_cb_on_chord_header"
    if key not in settings or key in workload.config:
        return workload
    return replace(workload, config={**workload.config, key: settings[key]})


def relaxations(settings: Settings, *, backend: str, delivery: Delivery,
                fault_classes: Iterable[str], timeout: float) -> tuple[Relaxation, ...]:
    """The promises ``settings`` take back from one run: its backend, delivery configuration in
    force, fault classes (none for a fault-free run) and timeout (seconds ``get()`` waited)."""
    classes = set(fault_classes)
    redis = backend == Backend.REDIS
    out: list[Relaxation] = []
    if redis and value_of(settings, CHORD_ORDERED) is False:
        out.append(Relaxation(
            CHORD_ORDER, f"{CHORD_ORDERED}=false", (CHORD_ORDER,),
            f"the Redis backend appends a chord's header results in completion order (Celery's "
            f"default up to 4.4.7) instead of sorting them by header position ({_ORDERING}): a "
            f"body's input is checked as the same header results in any order, and what follows "
            f"from it against the model run with the order the body received"))
    for name in ("result_expires", "result_chord_expires"):
        value = settings.get(name)
        if redis and value and value < timeout:
            out.append(Relaxation(
                "expiry", f"{name}={value:g}", ("liveness", "at_least_once"),
                f"results and chord keys expire {value:g} s after they are stored, within the "
                f"run's {timeout:g} s: one read later reads as pending for ever ({_EXPIRES})"))
    if "result_chord_join_timeout" in settings:
        join = settings["result_chord_join_timeout"]
        if join is not None and join < CHORD_JOIN_DEFAULT:
            out.append(Relaxation(
                "chord-join", f"result_chord_join_timeout={join:g}",
                ("liveness", "at_least_once", "exact_outcome"),
                f"a join of a chord's header that takes longer than {join:g} s (slowed by a fault "
                f"or a large header) fails the chord with ChordError (chord_unlock) or raises "
                f"TimeoutError and leaves it pending (Redis) ({_JOIN})"))
        elif join is None and redis and classes:
            out.append(Relaxation(
                "chord-join", "result_chord_join_timeout=null", ("at_most_once",),
                "with no join timeout, the Redis backend's claim to dispatch a chord body still "
                "expires after 10 s, and a join slowed past it can let another worker dispatch "
                "the body again (celery/backends/redis.py, on_chord_part_return)"))
    visibility = value_of(settings, VISIBILITY)
    if visibility is not None and visibility < VISIBILITY_TIMEOUT:
        out.append(Relaxation(
            "visibility", f"{VISIBILITY}={visibility:g}", ("at_most_once",),
            f"a message held unacknowledged for longer than {visibility:g} s (a task running or "
            f"reserved that long; a latch holds a task up to 5 s) is redelivered while "
            f"still held ({CITE['visibility']})"))
    elif visibility is not None and visibility > VISIBILITY_TIMEOUT and delivery.acks_late \
            and WORKER_KILL in classes:
        out.append(Relaxation(
            "visibility", f"{VISIBILITY}={visibility:g}",
            ("liveness", "at_least_once", "exact_outcome"),
            f"a killed worker's unacknowledged message comes back only {visibility:g} s after "
            f"it was delivered, which the run's recovery window (sized for the harness's "
            f"{VISIBILITY_TIMEOUT:g} s) may not cover ({CITE['visibility']})"))
    return tuple(out)


def settings_markdown() -> str:
    """The table README.md shows: each known setting and what it changes."""
    lines = ["| setting | effect |", "|---|---|"]
    lines += [f"| `{name}` | {effect} |" for name, effect in KNOWN.items()]
    return "\n".join(lines) + "\n"
