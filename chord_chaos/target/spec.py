"""What ``--celery SPEC`` names: a release (``5.3.6``), a pip requirement (``celery[redis]==5.3.6``)
or the path of a Celery checkout. Parsing only; resolving it is ``environment.py``'s job."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

# The extras every environment gets: the Redis transport and the database result backend.
EXTRAS = frozenset({"redis", "sqlalchemy"})
_RELEASE = re.compile(r"^v?\d+(\.\d+){0,3}((a|b|rc)\d+)?(\.post\d+)?$")
HINT = "give a release (5.3.6), a requirement ('celery[redis]==5.3.6') or the path of a Celery checkout"


class SpecError(ValueError):
    """A SPEC that names no Celery: one line saying what to give instead."""


@dataclass(frozen=True)
class CelerySpec:
    kind: Literal["release", "requirement", "checkout"]
    text: str
    specifier: SpecifierSet
    extras: frozenset[str] = EXTRAS
    path: Path | None = None

    @property
    def pinned(self) -> str | None:
        """The one release this spec can only mean (``==V``), else None: a range or a checkout
        resolves anew, a pin is cached by its text."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            return specs[0].version
        return None


def parse_spec(text: str) -> CelerySpec:
    text = text.strip()
    if not text:
        raise SpecError(f"--celery is empty; {HINT}")
    if _RELEASE.match(text):
        return CelerySpec("release", text, SpecifierSet(f"=={text.removeprefix('v')}"))
    looks_like_path = "/" in text or text.startswith((".", "~"))
    if Path(text).is_dir() or (looks_like_path and not re.match(r"(?i)celery\b", text)):
        return _checkout(text)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise SpecError(f"--celery {text!r}: not a release, requirement or directory "
                        f"({str(exc).splitlines()[0]}); "
                        f"{HINT}") from None
    if req.name.lower() != "celery":
        raise SpecError(f"--celery {text!r} names {req.name}, not celery; {HINT}")
    if req.url:
        raise SpecError(f"--celery {text!r}: a URL requirement; clone it and give the checkout's path")
    return CelerySpec("requirement", text, req.specifier, EXTRAS | set(req.extras))


def _checkout(text: str) -> CelerySpec:
    path = Path(text).expanduser().resolve()
    if not path.is_dir():
        raise SpecError(f"--celery {text}: no such directory; {HINT}")
    if not (path / "celery" / "__init__.py").is_file():
        raise SpecError(f"--celery {text}: not a Celery checkout (no celery/__init__.py there); "
                        "give the root of a clone of github.com/celery/celery")
    if not any((path / name).is_file() for name in ("pyproject.toml", "setup.py")):
        raise SpecError(f"--celery {text}: not an installable Celery checkout (no setup.py or "
                        "pyproject.toml); give the root of a clone of github.com/celery/celery")
    return CelerySpec("checkout", str(path), SpecifierSet(), path=path)
