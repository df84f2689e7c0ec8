"""Versions of everything a result depends on, for summaries and reports."""

from __future__ import annotations

import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _binary(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None and "/" not in argv[0]:
        return "not found"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def versions() -> dict[str, str]:
    from chord_chaos.harness.infra.errors import HarnessError
    from chord_chaos.harness.infra.toxiproxy import toxiproxy_binary

    try:
        toxiproxy = _binary([toxiproxy_binary(), "-version"])
    except HarnessError:
        toxiproxy = "not found"
    return {"python": platform.python_version(), "celery": _package("celery"),
            "kombu": _package("kombu"), "redis-py": _package("redis"),
            "sqlalchemy": _package("sqlalchemy"), "hypothesis": _package("hypothesis"),
            "redis-server": _binary(["redis-server", "--version"]), "toxiproxy-server": toxiproxy}
