"""Versions of everything a result depends on, for summaries and reports, and the provenance of
the Celery under test (set by ``--celery``: its spec, and a checkout's path and commit)."""

from __future__ import annotations

import json
import os
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


TARGET_VAR = "CC_CELERY_TARGET"  # JSON provenance, set when a command runs in a --celery environment


def celery_under_test() -> dict[str, str]:
    """``version`` (what the register matches: a checkout's is ``5.7.0+g<commit>[.dirty]``),
    and for ``--celery`` its ``spec``, and a checkout's ``path`` and ``commit``."""
    try:
        given = json.loads(os.environ.get(TARGET_VAR) or "{}")
    except json.JSONDecodeError:
        given = {}
    info = {k: str(v) for k, v in given.items() if v} if isinstance(given, dict) else {}
    return {"version": _package("celery"), **info}


def versions() -> dict[str, str]:
    from chord_chaos.harness.infra.errors import HarnessError
    from chord_chaos.harness.infra.toxiproxy import toxiproxy_binary

    try:
        toxiproxy = _binary([toxiproxy_binary(), "-version"])
    except HarnessError:
        toxiproxy = "not found"
    celery = celery_under_test()
    extra = {f"celery-{k}": v for k, v in celery.items() if k in ("spec", "path", "commit")}
    return {"python": platform.python_version(), "celery": celery["version"], **extra,
            "kombu": _package("kombu"), "redis-py": _package("redis"),
            "sqlalchemy": _package("sqlalchemy"), "hypothesis": _package("hypothesis"),
            "redis-server": _binary(["redis-server", "--version"]), "toxiproxy-server": toxiproxy,
            "amqp": _package("amqp"), "rabbitmq-server": _rabbitmq()}


def _rabbitmq() -> str:
    """The installed RabbitMQ's version, from its directory's name (asking the node needs it up)."""
    import glob

    from chord_chaos.harness.infra.rabbitmq_server import SERVER_SCRIPTS

    found = sorted(glob.glob(SERVER_SCRIPTS))
    return found[-1].split("rabbitmq_server-")[1].split("/")[0] if found else "not found"
