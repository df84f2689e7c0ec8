"""An isolated environment per Celery under test, built with uv and cached.

Each holds one Celery with kombu, billiard, vine, amqp and redis-py *of its era* (resolved with
uv's ``--exclude-newer-package`` at that release's upload date, plus a day: installing an old
Celery naively today pulls a kombu that refuses the redis-py it gets), chord-chaos's own needs
at the versions installed with chord-chaos (the same Hypothesis draws the same canvases), and
chord-chaos itself, linked, so the code under test of the harness is always the current one.

An environment is built in a scratch directory and renamed into the cache only once it imports
and its worker module loads: a failed, interrupted or refused build leaves nothing behind. The
cache (``$CC_CELERY_ENVS``, default ``<state dir>/celery-envs``) is keyed by what the spec
resolved to; a pinned release's spec, or a checkout's path and requirement files, map to their
environment directly, so reuse needs no network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from chord_chaos.harness.infra.registry import default_state_dir
from chord_chaos.harness.infra.versions import TARGET_VAR, celery_under_test
from chord_chaos.target.index import IndexError_, Release, releases
from chord_chaos.target.spec import CelerySpec, SpecError, parse_spec

CACHE_VAR = "CC_CELERY_ENVS"
UV_VAR = "CC_UV"
META = "chord-chaos-env.json"
FAMILY = ("celery", "kombu", "billiard", "vine", "amqp", "redis")
ERA_MARGIN = timedelta(days=1)  # companion releases (kombu, billiard) come out around the same day
# chord-chaos's own needs; Hypothesis at the installed version, so a seed draws the same canvases.
OWN = ("psutil", "rich", "toxiproxy-python", "sqlalchemy", "packaging", "psycopg[binary]")
PINNED = ("hypothesis",)
RESOLVE_TIMEOUT = 180.0
INSTALL_TIMEOUT = 600.0
CELERY_PROBE = ("import celery, celery.canvas, celery.bin.celery, celery.backends.redis, "
                "celery.backends.database, kombu.transport.redis")
HARNESS_PROBE = "import chord_chaos.harness.worker.app"
_NETWORK = re.compile(r"(?i)(failed to fetch|dns error|connect|timed out|network|offline)")

Announce = Callable[[str], None]


class EnvironmentError_(RuntimeError):
    """An environment that could not be built or cannot run here: one line, what to do."""


@dataclass(frozen=True)
class CeleryEnv:
    root: Path
    meta: dict[str, Any]

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    def provenance(self, spec: CelerySpec) -> dict[str, str]:
        """What a run on it records; a checkout's commit is read now, not when it was built."""
        out = {"spec": spec.text, "version": self.version, "env": self.root.name}
        if spec.path is not None:
            commit, dirty = _git_state(spec.path)
            out |= {"path": str(spec.path), "commit": commit + ("-dirty" if dirty else "")}
            local = f"g{commit[:8]}{'.dirty' if dirty else ''}" if commit else "local"
            out["version"] = f"{self.version}+{local}"  # not the release: the register excuses nothing
        return out


def cache_dir() -> Path:
    given = os.environ.get(CACHE_VAR)
    return Path(given).resolve() if given else default_state_dir() / "celery-envs"


def enter(text: str, argv: list[str], announce: Announce) -> None:
    """Replace this process with ``argv`` run by the environment of ``text``, unless this
    process already runs it. Nothing is started before: no process is left behind."""
    if celery_under_test().get("spec") == text:
        return
    spec = parse_spec(text)
    env = ensure(spec, announce)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(env.python, [str(env.python), *argv[1:]],
              {**os.environ, TARGET_VAR: json.dumps(env.provenance(spec)), UV_VAR: uv_binary()})


def ensure(spec: CelerySpec, announce: Announce) -> CeleryEnv:
    """The cached environment of ``spec``, built first if needed."""
    cache = cache_dir()
    alias = _alias(spec)
    if alias is not None:
        known = _aliases(cache).get(alias)
        if known and (cache / known / META).is_file():
            return _load(cache / known)
    resolved = _resolve(spec, cache, announce)
    root = cache / resolved.name
    with _locked(cache, resolved.name):
        if not (root / META).is_file():
            _build(resolved, root, announce)
    if alias is not None:
        _remember(cache, alias, resolved.name)
    return _load(root)


def uv_binary() -> str:
    for candidate in (os.environ.get(UV_VAR), str(Path(sys.executable).parent / "uv"), shutil.which("uv")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise EnvironmentError_("uv is not installed; run make setup (or pip install uv) to build "
                            "environments for --celery")


@dataclass(frozen=True)
class _Resolved:
    name: str
    version: str
    pins: str
    era: str | None
    spec: CelerySpec


def _resolve(spec: CelerySpec, cache: Path, announce: Announce) -> _Resolved:
    if spec.path is not None:
        version_ = _checkout_version(spec.path)
        era = _git_date(spec.path)
        line = f"-e {spec.path}[{','.join(sorted(spec.extras))}]"
    else:
        release = pick_release(spec, _releases(cache))
        version_ = str(release.version)
        era = (release.uploaded + ERA_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"celery[{','.join(sorted(spec.extras))}]=={version_}"
    announce(f"resolving Celery {version_}" + (f" with its family as of {era[:10]}" if era else ""))
    pins = _compile([line, *_own_pins()], era)
    digest = hashlib.sha256(f"{sys.version}\n{pins}".encode()).hexdigest()[:12]
    return _Resolved(f"celery-{version_}-{digest}", version_, pins, era, spec)


def pick_release(spec: CelerySpec, known: list[Release]) -> Release:
    """The newest published release the spec allows (a pre-release only when named)."""
    matching = [r for r in known if spec.specifier.contains(r.version, prereleases=spec.pinned is not None)]
    if not matching:
        finals = [str(r.version) for r in known if not r.version.is_prerelease]
        raise SpecError(f"--celery {spec.text}: no published Celery release matches (the newest "
                        f"are {', '.join(finals[-4:][::-1])}); see https://pypi.org/project/celery/#history")
    return matching[-1]


def _releases(cache: Path) -> list[Release]:
    try:
        return releases(cache)
    except IndexError_ as exc:
        raise EnvironmentError_(str(exc)) from None


def _own_pins() -> list[str]:
    pins = list(OWN)
    for name in PINNED:
        with contextlib.suppress(PackageNotFoundError):
            pins.append(f"{name}=={version(name)}")
    return pins


def _compile(lines: list[str], era: str | None) -> str:
    argv = [uv_binary(), "pip", "compile", "-", "--python", sys.executable, "--no-header",
            "--no-annotate", "-q"]
    for name in FAMILY if era else ():
        argv += ["--exclude-newer-package", f"{name}={era}"]
    return _uv(argv, "\n".join(lines) + "\n", RESOLVE_TIMEOUT, f"resolving {lines[0]}")


def _uv(argv: list[str], stdin: str | None, timeout: float, doing: str) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentError_(f"uv took over {timeout:g} s {doing}; is the package index slow "
                                "or unreachable?") from None
    if done.returncode != 0:
        detail = " ".join(line.strip() for line in done.stderr.strip().splitlines()[-3:])
        if _NETWORK.search(done.stderr):
            raise EnvironmentError_(f"cannot reach the package index while {doing} ({detail[:300]}); "
                                    "check the network or set UV_INDEX_URL to a mirror")
        raise EnvironmentError_(f"uv failed {doing}: {detail[:400]}")
    return done.stdout


def _build(resolved: _Resolved, root: Path, announce: Announce) -> None:
    """Build in a scratch directory, check it, then rename it into place."""
    scratch = root.with_name(f".building-{root.name}-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    announce(f"building an environment for Celery {resolved.version} in {root} (once; cached)")
    try:
        uv = uv_binary()
        _uv([uv, "venv", "--relocatable", "-q", "--python", sys.executable, str(scratch)], None,
            INSTALL_TIMEOUT, "creating a virtualenv")
        pins = scratch / "requirements.txt"
        pins.write_text(resolved.pins, encoding="utf-8")
        # Compiled now: workers import Celery at every start, and PYTHONDONTWRITEBYTECODE may be set.
        _uv([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(scratch / "bin" / "python"),
             "-r", str(pins)], None, INSTALL_TIMEOUT, f"installing Celery {resolved.version}")
        _link_self(scratch)
        _probe(scratch, resolved)
        meta = {"version": resolved.version, "spec": resolved.spec.text, "era": resolved.era,
                "python": sysconfig.get_python_version(),
                "built": datetime.now().isoformat(timespec="seconds")}
        (scratch / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        scratch.rename(root)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _link_self(root: Path) -> None:
    """chord-chaos itself: a link to the running package, so the environment runs this code."""
    import chord_chaos

    purelib = Path(subprocess.run(
        [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, timeout=30, check=True).stdout.strip())
    (purelib / "chord_chaos").symlink_to(Path(chord_chaos.__file__).resolve().parent)


def _probe(root: Path, resolved: _Resolved) -> None:
    python = str(root / "bin" / "python")
    for code, whose in ((CELERY_PROBE, "celery"), (HARNESS_PROBE, "harness")):
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                              check=False)
        if done.returncode == 0:
            continue
        lines = done.stderr.strip().splitlines()
        last = lines[-1] if lines else f"exit status {done.returncode}"
        py = sysconfig.get_python_version()
        if whose == "harness":
            raise EnvironmentError_(f"chord-chaos cannot drive Celery {resolved.version}: {last}")
        needs = _pythons_supported(python)
        raise EnvironmentError_(f"Celery {resolved.version} cannot run on Python {py}: {last}"
                                + (f"; it supports {needs}" if needs else "")
                                + "; pick a newer release or run chord-chaos on a Python it supports")


_SUPPORTED = """
from importlib.metadata import metadata
m = metadata("celery")
minors = sorted({c.rsplit(":: ", 1)[1] for c in m.get_all("Classifier") or []
                 if c.startswith("Programming Language :: Python :: 3.")},
                key=lambda v: tuple(map(int, v.split("."))))
print(f"Python {minors[0]}-{minors[-1]}" if minors else m.get("Requires-Python") or "")
"""


def _pythons_supported(python: str) -> str:
    """``Python 3.6-3.8``, from the installed release's own trove classifiers, or ''."""
    try:
        done = subprocess.run([python, "-c", _SUPPORTED], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _load(root: Path) -> CeleryEnv:
    return CeleryEnv(root, json.loads((root / META).read_text(encoding="utf-8")))


def _alias(spec: CelerySpec) -> str | None:
    """A key that needs no network: a pinned release's text, a checkout's path and the contents
    of the files that say what it requires."""
    py = sysconfig.get_python_version()
    if spec.path is not None:
        files = ["setup.py", "pyproject.toml", "setup.cfg", *sorted(
            str(p.relative_to(spec.path)) for p in (spec.path / "requirements").glob("**/*.txt"))]
        digest = hashlib.sha256()
        for name in files:
            with contextlib.suppress(OSError):
                digest.update(name.encode() + b"\0" + (spec.path / name).read_bytes())
        return f"py{py} checkout {spec.path} {digest.hexdigest()[:12]} {','.join(sorted(spec.extras))}"
    pinned = spec.pinned
    return None if pinned is None else f"py{py} celery[{','.join(sorted(spec.extras))}]=={pinned}"


def _aliases(cache: Path) -> dict[str, str]:
    try:
        data = json.loads((cache / "specs.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(cache: Path, alias: str, name: str) -> None:
    with _locked(cache, "specs"):
        data = _aliases(cache) | {alias: name}
        tmp = cache / f"specs.json.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(cache / "specs.json")


@contextlib.contextmanager
def _locked(cache: Path, name: str) -> Iterator[None]:
    """One builder per environment across processes (pytest-xdist workers, parallel commands)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _checkout_version(path: Path) -> str:
    text = (path / "celery" / "__init__.py").read_text(encoding="utf-8", errors="replace")
    found = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", text, re.M)
    if not found:
        raise SpecError(f"--celery {path}: celery/__init__.py has no __version__; is it a Celery checkout?")
    return found.group(1)


def _git(path: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _git_state(path: Path) -> tuple[str, bool]:
    commit = _git(path, "rev-parse", "HEAD")
    return commit, bool(commit and _git(path, "status", "--porcelain", "--untracked-files=no"))


def _git_date(path: Path) -> str | None:
    """The checkout's commit date: its family resolves as of then (None: not a git clone)."""
    stamp = _git(path, "log", "-1", "--format=%cI")
    if not stamp:
        return None
    when = datetime.fromisoformat(stamp) + ERA_MARGIN
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
