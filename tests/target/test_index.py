"""The package index's release list: yanked releases dropped, upload dates read, a dead index
refused in one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from chord_chaos.target.index import PYPI_VAR, IndexError_, releases


def _file(when: str, yanked: bool = False) -> dict[str, object]:
    return {"upload_time_iso_8601": when, "yanked": yanked}


def test_releases_are_the_published_ones_oldest_first(tmp_path: Path) -> None:
    (tmp_path / "index-celery.json").write_text(json.dumps({"releases": {
        "5.3.0": [_file("2023-06-06T06:03:09.25Z"), _file("2023-06-06T05:00:00Z")],
        "5.2.7": [_file("2022-05-29T12:57:59Z")],
        "5.2.5": [_file("2022-04-03T00:00:00Z", yanked=True)],
        "5.3.0rc1": [_file("2023-05-11T00:00:00Z")],
        "5.3.2": [],
        "not-a-version": [_file("2020-01-01T00:00:00Z")],
    }}))
    found = releases(tmp_path)
    assert [str(r) for r in found] == ["5.2.7", "5.3.0rc1", "5.3.0"]
    assert found[-1].uploaded.isoformat() == "2023-06-06T05:00:00+00:00"  # its earliest file


def test_an_unreachable_index_is_one_line_saying_what_to_do(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv(PYPI_VAR, f"http://127.0.0.1:{port}/pypi")
    with pytest.raises(IndexError_, match="cannot reach the package index") as caught:
        releases(tmp_path)
    assert "\n" not in str(caught.value) and not list(tmp_path.iterdir())
