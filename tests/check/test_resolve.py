"""Markers resolved against the ledger: ids where it knows them, the shape where it cannot."""

from __future__ import annotations

import json

from chord_chaos.check.resolve import Expected, all_matched, expect, ledger_task_ids
from chord_chaos.models.markers import UNMODELLED_EXCEPTION, task_id, unknown_task_id
from tests.helpers import event


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def test_a_node_has_a_task_id_only_where_its_events_agree_on_one() -> None:
    events = [event("start", "a", 1, task_id="A"), event("end", "a", 2, task_id="A"),
              event("start", "b", 3, task_id="B1"), event("start", "b", 4, task_id="B2"),
              event("start", "c", 5)]
    assert ledger_task_ids(events) == {"a": "A"}


def test_a_resolved_marker_must_be_that_id_even_inside_a_longer_string() -> None:
    e = expect(_dump([task_id("$.x"), task_id("$.x") + "-s"]), {"$.x": "id-1"})
    assert e == Expected(_dump(["id-1", "id-1-s"]))
    assert e.matches(_dump(["id-1", "id-1-s"])) and not e.matches(_dump(["id-2", "id-2-s"]))


def test_an_unresolved_marker_matches_any_non_empty_string_in_its_place() -> None:
    for marker in (task_id("$.ran-without-id"), unknown_task_id("$.x"), UNMODELLED_EXCEPTION):
        e = expect(_dump([[marker, "eb"], {}]), {"$.x": "id-1"})
        assert e.text == _dump([[marker, "eb"], {}])
        assert e.matches(_dump([["anything", "eb"], {}]))
        for wrong in ([["eb"], {}], [[None, "eb"], {}], [["", "eb"], {}], [["a", "eb", 1], {}]):
            assert not e.matches(_dump(wrong)), wrong


def test_observations_pair_off_with_predictions_each_matching_its_own() -> None:
    ids = {"$.h": "H"}
    expected = [expect(_dump([unknown_task_id("$.b")]), ids), expect(_dump([task_id("$.h")]), ids)]
    assert all_matched(expected, [_dump(["H"]), _dump(["B"])])
    assert all_matched(expected, [_dump(["B"]), _dump(["H"])])
    assert not all_matched(expected, [_dump(["B"]), _dump(["B2"])])  # H's errback ran twice
    assert not all_matched(expected, [_dump(["H"])])
