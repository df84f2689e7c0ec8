"""``README.md`` (how to run the reproduction) and ``ISSUE.md`` (the text of an upstream issue).

The README's second shell block holds exactly the commands that start the servers, the worker
and the script, one per line, so that a test (and a person) can run them as written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chord_chaos.check.exact import Violation
from chord_chaos.check.known_issues import KnownIssue
from chord_chaos.export.repro_code import Case, urls
from chord_chaos.models.canvas import walk
from chord_chaos.models.documented import quotes_for
from chord_chaos.models.python_code import expression

WORKER = "celery -A repro worker --concurrency 2 --loglevel INFO"
OUTCOME_CHECKS = {"outcome", "liveness"}


@dataclass(frozen=True)
class Finding:
    """What the report says happened: the violations (checked strictly), the register entries
    whose mechanism explains them, and how often it reproduced."""

    violations: tuple[Violation, ...]
    resembles: tuple[KnownIssue, ...]
    versions: dict[str, str]
    install: str  # the pip requirement, or how to install the checkout
    rate: str  # "k of n runs (95 % interval a-b)" or the reported run alone
    replay: str

    @property
    def title(self) -> str:
        if self.resembles:
            return self.resembles[0].title.split(": ")[0].split("; ")[0]
        v = self.violations[0]
        return f"{v.check} violated{f' at {v.node}' if v.node else ''}: {v.message}"[:160]

    @property
    def outcome_visible(self) -> bool:
        """Whether repro.py's exit code can see the deviation: only get()'s outcome is checked."""
        return any(str(v.check) in OUTCOME_CHECKS for v in self.violations)


def _features(case: Case) -> set[str]:
    """What the canvas uses, so that only the documentation about those parts is quoted."""
    found = {type(node).__name__.lower() for _, node in walk(case.workload.canvas)}
    if case.expected.get("status") != "SUCCESS" or case.observed.get("status") == "FAILURE":
        found.add("error")
    if any(getattr(node, "link", None) or getattr(node, "link_error", None)
           for _, node in walk(case.workload.canvas)):
        found.add("callback")
    if case.faults.functions or case.faults.commented:
        found.add("delivery")
    return found


def server_commands(case: Case) -> list[str]:
    ports = sorted({u.split(":")[2].split("/")[0] for u in urls(case) if u.startswith("redis://")})
    commands = [f"redis-server --port {p} --bind 127.0.0.1 --save '' --appendonly no &" for p in ports]
    if case.broker == "rabbitmq":
        commands.insert(0, "sudo rabbitmq-server &  # or a RabbitMQ you run: set REPRO_BROKER_URL")
    return commands


def readme(case: Case, finding: Finding) -> str:
    commands = [*server_commands(case), f"{WORKER} &", "python repro.py"]
    extras = {"postgres": "redis,sqlalchemy", None: "redis"}.get(case.database, "redis")
    if case.backend == "database":
        extras = "redis,sqlalchemy"
    lines = [
        f"# Reproduction: {finding.title}",
        "",
        f"Exported by chord-chaos from `{case.source}`. It needs Python, `redis-server` and "
        f"Celery {finding.versions.get('celery', '')}; nothing from chord-chaos.",
        "",
        "```sh",
        "python -m venv venv && . venv/bin/activate",
        f"pip install {finding.install.format(extras=extras)}"
        + (" 'psycopg[binary]'" if case.database == "postgres" else ""),
        "```",
        "",
        "Then, in this directory, start the server(s) and a worker, and run the script:",
        "",
        "```sh",
        *commands,
        "```",
        "",
        "`repro.py` prints the expected and the observed outcome, and exits 1 when the bug "
        "reproduces, 0 when it does not. Set `REPRO_BROKER_URL` / `REPRO_BACKEND_URL` for "
        "servers elsewhere. Stop the worker and the server(s) with `kill %1 %2` (or Ctrl-C).",
    ]
    if case.faults.functions:
        lines += ["", "`repro.py` applies the run's faults itself (see its `fault_*` functions). A "
                      "worker it starts again is stopped when it ends; a redis-server it restarts "
                      "stays in place of yours, and it prints that server's pid."]
    if case.faults.commented:
        lines += ["", "Some faults need a proxy between the processes; they are commented in "
                      f"`repro.py`. To apply them, run chord-chaos: `{finding.replay}`."]
    if not finding.outcome_visible:
        lines += ["", "**The deviation does not change what `get()` returns**: `repro.py` can only "
                      "check the outcome, so read the worker's log (each task's `succeeded` line) "
                      "for what ISSUE.md describes."]
    return "\n".join(lines) + "\n"


def _broker(case: Case, v: dict[str, str]) -> str:
    if case.broker == "rabbitmq":
        return f"RabbitMQ ({v.get('rabbitmq-server', 'rabbitmq-server')})"
    return f"Redis ({v.get('redis-server', 'redis-server').split(' sha=')[0]})"


def _backend(case: Case) -> str:
    if case.backend == "redis":
        return "Redis"
    return f"SQLAlchemy database ({'PostgreSQL' if case.database == 'postgres' else 'SQLite'})"


def _outcome(o: dict[str, Any], past: bool) -> str:
    """``return `[1]``` / ``raise `ChordError``` (or in the past tense, and ``never returned``)."""
    verb = ("returned", "raised") if past else ("return", "raise")
    if o.get("status") == "SUCCESS":
        return f"{verb[0]} `{json.dumps(o.get('value'))}`"
    if o.get("status") == "TIMEOUT":
        return "never returned (it timed out)" if past else "never return"
    errors = o.get("acceptable_errors") or [o.get("error")]
    return f"{verb[1]} `{' or '.join(str(e) for e in errors)}`"


def issue(case: Case, finding: Finding) -> str:
    v = finding.versions
    quotes = quotes_for([v.check for v in finding.violations], _features(case))
    lines = [
        f"# {finding.title}",
        "",
        "## Versions",
        "",
        f"- Celery {v.get('celery', '?')}, kombu {v.get('kombu', '?')}, redis-py "
        f"{v.get('redis-py', '?')}, Python {v.get('python', '?')}",
        f"- Broker: {_broker(case, v)}; result backend: {_backend(case)}",
    ]
    settings = {**case.delivery, **case.user_settings, **dict(case.workload.config)}
    if settings:
        lines.append("- Settings: " + ", ".join(f"`{k}={val!r}`" for k, val in settings.items()))
    lines += [
        "",
        "## Reproduction",
        "",
        "```python",
        f"canvas = {expression(case.workload.canvas)}",
        f"result = canvas.apply_async(args={tuple(case.workload.args)!r}, "
        f"kwargs={dict(case.workload.kwargs)!r})",
        "```",
        "",
        "with plain tasks (`tasks.py`): `tag(*args)` returns `list(args)`, `fail` raises "
        "`ExpectedException`, and so on. The attached `repro.py` and `tasks.py` run it with "
        "`redis-server`, one worker and `python repro.py` (see README.md).",
    ]
    if case.faults.functions or case.faults.commented:
        lines += ["", "Faults during the run (`repro.py` applies them where plain tools can):", ""]
        lines += [f"- {f.splitlines()[1].strip().strip(chr(34))}" for f in case.faults.functions]
        lines += [f"- {c} (needs a proxy; `{finding.replay}`)" for c in case.faults.commented]
    lines += ["", "## What Celery's documentation says should happen", ""]
    for q in quotes:
        lines += [f"> {q.text}", f"> ([source]({q.source}))", ""]
    lines += [f"So `result.get()` should {_outcome(case.expected, past=False)}."]
    if case.exceptions_allowed or case.hang_allowed:
        lines += ["Under these faults Celery does not promise that much: a fault-induced failure"
                  f"{' or a result that never resolves' if case.hang_allowed else ''} would be "
                  "allowed; what happened is outside even that."]
    lines += ["", "## What happened", "", f"`result.get()` {_outcome(case.observed, past=True)}.", ""]
    lines += [f"- `{v.check}`{f' at `{v.node}`' if v.node else ''}: {v.message}"
              for v in finding.violations]
    lines += ["", "## Reproduction rate", "", finding.rate, ""]
    if finding.resembles:
        lines += ["## Related", ""]
        lines += [f"- {k.link} (chord-chaos's register: `{k.id}`)" for k in finding.resembles]
        lines.append("")
    return "\n".join(lines)
