"""Real runs on another Celery: an older release built with uv, a matrix and a bisection over two
releases with a known flip (celery#5958, fixed in 5.3.0), and a checkout with one planted line.

Two extra releases are downloaded once per machine (5.2.7 and 5.3.0, each with its family);
their environments are shared by every test process (``CC_CELERY_ENVS``, tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chord_chaos.target.environment import CACHE_VAR, ensure
from chord_chaos.target.index import PYPI_VAR
from chord_chaos.target.spec import parse_spec
from tests.helpers import REPO_ROOT, SEEDS_DIR
from tests.quality.planted import BUGS, Planted, as_checkout, plant

pytestmark = pytest.mark.cluster

FLIP = str(REPO_ROOT / "canvases" / "regressions" / "celery-5958-chain-of-groups.json")
OLD, FIXED = "5.2.7", "5.3.0"


def cli(*argv: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chord_chaos.cli.main", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO_ROOT, env={**os.environ, **(env or {})})


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_older_release_shows_a_violation_the_default_release_passes(tmp_path: Path) -> None:
    old = cli("run", FLIP, "--celery", OLD, "--timeout", "15", "--report-dir", str(tmp_path / "old"))
    assert old.returncode == 1, old.stderr[-2000:]
    [line] = lines(old.stdout)
    assert "$.chain[2].group[0] ran 3 time(s); expected 1" in json.dumps(line["violations"])
    report = json.loads(Path(str(line["report"])).read_text())
    assert report["versions"]["celery"] == OLD and report["versions"]["celery-spec"] == OLD
    assert report["versions"]["kombu"].startswith("5.2.")  # its era's kombu, not today's
    assert report["history"]["celery"] == OLD and f"--celery {OLD}" in report["rerun"]

    default = cli("run", FLIP, "--timeout", "15", "--report-dir", str(tmp_path / "default"))
    assert default.returncode == 0 and lines(default.stdout)[0]["verdict"] == "pass", default.stdout

    announced: list[str] = []
    ensure(parse_spec(OLD), announced.append)
    assert announced == []  # the second use resolves nothing and builds nothing

    replay = cli("replay", str(line["report"]), "--times", "1", "--report-dir", str(tmp_path / "replay"))
    assert replay.returncode == 1 and "reproduced 1 of 1" in replay.stderr  # on the report's Celery


def test_matrix_over_two_releases_marks_where_the_verdict_flips(tmp_path: Path) -> None:
    steady = str(SEEDS_DIR / "map_reduce.json")
    done = cli("matrix", FLIP, steady, "--celery", FIXED, "--celery", OLD, "--timeout", "15",
               "--report-dir", str(tmp_path))
    assert done.returncode == 1, done.stderr[-2000:]
    table = done.stdout.splitlines()
    assert table[0].split() == ["canvas", OLD, FIXED]  # releases in version order
    assert table[1].split() == ["celery-5958-chain-of-groups", "violation", "*pass"]
    assert table[2].split() == ["map_reduce", "pass", "pass"]
    matrix = json.loads((tmp_path / "matrix.json").read_text())
    assert [r["flips"] for r in matrix["rows"]] == [[FIXED], []]
    assert [c["version"] for c in matrix["columns"]] == [OLD, FIXED]


def test_bisect_finds_the_release_that_fixed_it(tmp_path: Path) -> None:
    done = cli("bisect", FLIP, "--good", FIXED, "--bad", OLD, "--times", "2", "--timeout", "15",
               "--report-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{OLD}      bad   reproduced 2 of 2" in done.stdout
    assert f"{FIXED}      good  reproduced 0 of 2" in done.stdout
    assert f"first good release: {FIXED} (last bad: {OLD})" in done.stdout
    assert f"chord-chaos run {FLIP} --backend redis --celery {OLD}" in done.stdout
    assert json.loads((tmp_path / "bisect.json").read_text())["first_bad"] == OLD


BODY_TWICE = next(b for b in BUGS if b.name == "body-published-twice")


def test_a_checkout_with_one_changed_line_is_what_runs(tmp_path: Path) -> None:
    checkout = as_checkout(plant(BODY_TWICE, tmp_path))
    canvas = tmp_path / "chord.json"
    canvas.write_text(json.dumps({"chord": {"header": [{"task": "add", "args": [1, 1]},
                                                       {"task": "add", "args": [2, 2]}],
                                            "body": {"task": "tsum"}}}))
    done = cli("run", str(canvas), "--celery", str(checkout), "--timeout", "15",
               "--report-dir", str(tmp_path / "reports"))
    assert done.returncode == 1, done.stderr[-2000:]
    [line] = lines(done.stdout)
    assert "$.chord.body ran 2 time(s); expected 1" in json.dumps(line["violations"])
    report = json.loads(Path(str(line["report"])).read_text())
    assert report["versions"]["celery-path"] == str(checkout)
    assert report["history"]["celery"].endswith("+local")  # a checkout is not the release


def test_bad_specs_are_one_line_and_leave_nothing_half_built(tmp_path: Path) -> None:
    canvas = str(SEEDS_DIR / "map_reduce.json")
    cache = Path(os.environ[CACHE_VAR])
    broken = plant(Planted("needs-old-python", "__init__.py", "import re\n",
                           "import re\nfrom inspect import formatargspec\n", "imports what 3.11 removed"),
                   tmp_path)
    cases = [
        (["--celery", "9.9.9"], {}, "no published Celery release matches"),
        (["--celery", str(tmp_path)], {}, "not a Celery checkout"),
        (["--celery", "5.1.2"], {CACHE_VAR: str(tmp_path / "offline"), PYPI_VAR: "http://127.0.0.1:9/pypi",
                                 "UV_INDEX_URL": "http://127.0.0.1:9/simple"},
         "cannot reach the package index"),
        (["--celery", str(as_checkout(broken))], {}, "cannot run on Python"),
    ]
    for args, env, says in cases:
        done = cli("run", canvas, *args, "--report-dir", str(tmp_path / "r"), env={**env})
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        last = done.stderr.strip().splitlines()[-1]
        assert says in last and last.startswith("chord-chaos: "), (args, done.stderr)
        assert not lines(done.stdout)
    for where in (cache, tmp_path / "offline"):
        assert not list(where.glob(".building-*")) and not list(where.glob("celery-5.1.2-*"))
    assert not [e for e in cache.glob("celery-*") if (e / "celery").resolve() == broken]
