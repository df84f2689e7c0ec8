"""The package index's view of Celery: its published releases and when each was uploaded.

The upload date is what makes an environment era-consistent: Celery's own family (kombu,
billiard, vine, amqp, redis-py) resolves as it stood when that release came out. PyPI's JSON API
(``$CC_PYPI_URL``, default https://pypi.org/pypi) is read with a timeout and cached for an hour.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

PYPI_VAR = "CC_PYPI_URL"
DEFAULT_PYPI = "https://pypi.org/pypi"
FETCH_TIMEOUT = 20.0
CACHE_SECONDS = 3600.0


class IndexError_(RuntimeError):
    """The index could not be read or does not know the release: one line, what to do."""


@dataclass(frozen=True)
class Release:
    version: Version
    uploaded: datetime

    def __str__(self) -> str:
        return str(self.version)


def pypi_url() -> str:
    return os.environ.get(PYPI_VAR, DEFAULT_PYPI).rstrip("/")


def fetch_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise IndexError_(f"{url}: not found on the package index") from None
        raise IndexError_(f"cannot read {url}: HTTP {exc.code}; try again later") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IndexError_(f"cannot reach the package index ({url}: {reason}); check the network, "
                          f"set {PYPI_VAR} to a mirror, or give a Celery checkout path") from None
    except json.JSONDecodeError:
        raise IndexError_(f"{url}: the package index answered with something that is not JSON") from None


def releases(cache_dir: Path, package: str = "celery") -> list[Release]:
    """Every published, non-yanked release of ``package``, oldest first (pre-releases included:
    callers that bisect drop them)."""
    cached = cache_dir / f"index-{package}.json"
    try:
        fresh = time.time() - cached.stat().st_mtime < CACHE_SECONDS
    except OSError:
        fresh = False
    if fresh:
        data = json.loads(cached.read_text(encoding="utf-8"))
    else:
        data = fetch_json(f"{pypi_url()}/{package}/json")
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(cached)
    out = []
    for text, files in (data.get("releases") or {}).items():
        live = [f for f in files if not f.get("yanked")]
        if not live:
            continue
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        uploaded = min(datetime.fromisoformat(f["upload_time_iso_8601"].replace("Z", "+00:00"))
                       for f in live)
        out.append(Release(version, uploaded))
    return sorted(out, key=lambda r: r.version)
