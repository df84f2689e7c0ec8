"""What a run's Celery settings (``--config``, recorded in ``History.meta["settings"]``) change in
its judgement: the relaxations in force, the settings the model does not know, and, with the
chord order relaxed, the prediction the checks judge against.

With ``result_chord_ordered`` off, the Redis backend hands a chord body its header's results in
completion order. The model is then re-run with the order each body received, where that is the
same header results as predicted (a multiset, compared as JSON): everything after the body (its
result, the chain after it, ``get()``'s value) is predicted from that order, exactly. A body that
got a lost, duplicated or foreign result keeps the header-ordered prediction, and the checks
report it as before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chord_chaos.check.history import History
from chord_chaos.models.canvas import parse_workload
from chord_chaos.models.faults import parse_plan
from chord_chaos.models.guarantees import DELIVERIES, Promise
from chord_chaos.models.semantics import Prediction, predict
from chord_chaos.models.settings import CHORD_ORDER, Relaxation, relaxations, unmodelled


def settings_of(history: History) -> dict[str, Any]:
    given = history.meta.get("settings")
    return dict(given) if isinstance(given, dict) else {}


def relaxed_in(history: History) -> tuple[Relaxation, ...]:
    """The relaxations in force for this run."""
    settings = settings_of(history)
    if not settings:
        return ()
    plan = parse_plan(history.faults, "history.faults")
    return relaxations(settings, backend=history.backend, delivery=DELIVERIES[history.delivery],
                       fault_classes=plan.classes, timeout=history.timeout)


def unmodelled_in(history: History) -> tuple[str, ...]:
    return unmodelled(settings_of(history))


def relaxed_properties(relaxed: tuple[Relaxation, ...]) -> dict[str, str]:
    """Promise property -> why it is not promised under these settings."""
    return {prop: f"{r.setting}: {r.why}" for r in relaxed for prop in r.relaxes
            if prop != CHORD_ORDER}


def weakened(promised: Promise, relaxed: tuple[Relaxation, ...]) -> Promise:
    """A promise with the settings' relaxations taken back."""
    props = relaxed_properties(relaxed)
    return replace(promised, **dict.fromkeys(props, False), why={**promised.why, **props})


def prediction_for(prediction: Prediction, history: History,
                   relaxed: tuple[Relaxation, ...]) -> Prediction:
    """The prediction to judge the run against: with the chord order relaxed, the model re-run
    with each chord body's header results in the order its entry tasks received them."""
    if not any(r.name == CHORD_ORDER for r in relaxed):
        return prediction
    return predict(parse_workload(history.workload), received_orders(prediction, history),
                   unordered=True)


def received_orders(prediction: Prediction, history: History) -> dict[str, list[Any]]:
    """Chord body path -> the header results its first entry task to start received (its first
    argument), for every body whose entry tasks ran."""
    starts = sorted((e for e in history.events if e.kind == "start" and e.args), key=lambda e: e.mono)
    orders: dict[str, list[Any]] = {}
    for body, entries in prediction.chord_inputs.items():
        got = next((e.args[0] for e in starts if e.node in entries), None)
        if isinstance(got, list):
            orders[body] = got
    return orders
