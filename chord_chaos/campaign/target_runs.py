"""Canvas files run on another Celery: ``chord-chaos run`` as a child process inside that Celery's
environment, its JSON lines read back. What ``matrix`` and ``bisect`` are made of.

The child has its own cluster and its own process group; Ctrl-C (or SIGTERM) here is passed on
to it once, it stops its cluster and exits, and what it printed so far is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chord_chaos.harness.infra.versions import TARGET_VAR
from chord_chaos.target.environment import UV_VAR, CeleryEnv, ensure, uv_binary
from chord_chaos.target.spec import CelerySpec, parse_spec

STOP_GRACE = 30.0  # seconds a child gets to stop its cluster after Ctrl-C
Announce = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """A Celery ready to run: its spec, environment, and what its runs record."""

    spec: CelerySpec
    env: CeleryEnv

    @property
    def label(self) -> str:
        return self.provenance["version"] if self.spec.kind == "checkout" else self.env.version

    @property
    def provenance(self) -> dict[str, str]:
        return self.env.provenance(self.spec)


def prepare(text: str, announce: Announce) -> Target:
    spec = parse_spec(text)
    return Target(spec, ensure(spec, announce))


@dataclass
class Outcome:
    """One canvas file's run: its verdict line as ``chord-chaos run`` printed it."""

    file: str
    verdict: str  # pass, violation, unknown, or error (the child could not run it)
    line: dict[str, Any] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        """pass | violation | known (passed thanks to the register) | unknown | error"""
        if self.verdict == "pass" and self.line.get("known_issues"):
            return "known"
        return self.verdict

    @property
    def summary(self) -> str:
        messages = [v.get("message", "") for v in self.line.get("violations", [])]
        known = [str(k[0] if isinstance(k, list) else k) for k in self.line.get("known_issues", [])]
        return "; ".join(messages) or ", ".join(known) or str(self.line.get("error", ""))


def run_files(target: Target, files: list[str], backend: str, timeout: float, report_dir: Path,
              config: str | None = None, strict: bool = False) -> list[Outcome]:
    """``chord-chaos run FILES`` on ``target``'s Celery; one Outcome per file, in order."""
    argv = [str(target.env.python), "-m", "chord_chaos.cli.main", "run", *files, "--backend", backend,
            "--timeout", str(timeout), "--report-dir", str(report_dir)]
    if config:
        argv += ["--config", config]
    if strict:
        argv.append("--strict")
    env = {**os.environ, TARGET_VAR: json.dumps(target.provenance), UV_VAR: uv_binary()}
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out, err = child.communicate()
    except KeyboardInterrupt:
        stop(child)
        raise
    lines = []
    for text in out.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            obj = json.loads(text)
            if isinstance(obj, dict) and "verdict" in obj:
                lines.append(obj)
    why = (err.strip().splitlines() or [f"exit status {child.returncode}"])[-1]
    outcomes = [Outcome(str(d.get("file")), str(d["verdict"]), d) for d in lines]
    done = {o.file for o in outcomes}
    outcomes += [Outcome(f, "error", {"error": why}) for f in dict.fromkeys(files) if f not in done]
    order = {f: i for i, f in enumerate(files)}
    return sorted(outcomes, key=lambda o: order.get(o.file, len(files)))


def stop(child: subprocess.Popen[str]) -> None:
    """SIGINT once (it stops its cluster), SIGKILL to its group after STOP_GRACE."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGINT)
    try:
        child.communicate(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
