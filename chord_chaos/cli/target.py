"""``--celery SPEC``, ``--config FILE`` and ``--broker``: the Celery under test, the settings
applied to it and the broker it runs on.

A command given ``--celery`` builds (or reuses) that Celery's isolated environment and executes
itself again inside it, with the same arguments: the client and every worker it starts then run
the Celery under test, and nothing of the project's own environment is imported on the way.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from chord_chaos.cli.input import UsageError
from chord_chaos.harness.infra.versions import celery_under_test
from chord_chaos.models.vocabulary import BROKER_VAR, BROKERS

if TYPE_CHECKING:
    from chord_chaos.check.history import History


def target_options(parser: Any, default: str = "the Celery installed with chord-chaos") -> None:
    parser.add_argument("--celery", default=None, metavar="SPEC",
                        help="the Celery to test: a release (5.3.6), a pip requirement "
                             "('celery[redis]==5.3.6') or the path of a Celery checkout (installed "
                             f"editable); default: {default}")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="Celery settings for the client and every worker: a Python module "
                             "(.py) or a JSON object")
    parser.add_argument("--broker", default=None, choices=[str(b) for b in BROKERS],
                        help="the broker every cluster runs: redis (default) or rabbitmq (a "
                             "RabbitMQ node the harness starts)")


def enter_target(args: argparse.Namespace, spec: str | None = None) -> None:
    """Run the rest of this command on the Celery of ``--celery`` (or ``spec``), then apply
    ``--broker`` and ``--config``. Returns only in the process that runs the command; may replace it."""
    from chord_chaos.target.environment import EnvironmentError_, enter
    from chord_chaos.target.spec import SpecError

    wanted = getattr(args, "celery", None) or spec
    if wanted:
        try:
            enter(wanted, [sys.executable, "-m", "chord_chaos.cli.main", *sys.argv[1:]],
                  announce=lambda line: print(f"chord-chaos: {line}", file=sys.stderr, flush=True))
        except (SpecError, EnvironmentError_) as exc:
            raise UsageError(str(exc)) from None
    broker = getattr(args, "broker", None)
    if broker:
        os.environ[BROKER_VAR] = broker  # every cluster of this command, and its child processes
    config = getattr(args, "config", None)
    if config:
        from chord_chaos.cli.config_option import apply_config

        apply_config(config)


def report_celery(history: History) -> str | None:
    """The ``--celery`` spec that reruns a saved run on its own Celery, or None when that is the
    Celery running now (or the history, an old one, does not say)."""
    recorded = history.meta.get("celery")
    spec = recorded.get("spec") if isinstance(recorded, dict) else None
    running = celery_under_test()
    if spec:
        return None if spec == running.get("spec") else str(spec)
    if not history.celery or history.celery == running["version"] or "+" in history.celery:
        return None
    return history.celery
