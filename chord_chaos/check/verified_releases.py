"""The Celery releases on which each known issue's minimal case was verified to reproduce.

Data, kept apart from the mechanisms in ``known_issues.py``: ``chord-chaos known-issues --check
--celery V --record`` adds V to every entry whose minimal case reproduced on V (it never removes
one: a flaky entry that missed proves nothing). An entry excuses violations only on these."""

from __future__ import annotations

VERIFIED_RELEASES: dict[str, tuple[str, ...]] = {
    "celery-4004": ("5.5.3", "5.6.3", "5.7.0"),
    "header-chain-group-after-failure": ("5.5.3", "5.6.3", "5.7.0"),
    "nested-group-order": ("5.5.3", "5.6.3", "5.7.0"),
    "retry-state-race": ("5.7.0",),
    "group-body-continuation": ("5.6.3", "5.7.0"),
    "chain-body-errback-in-chain": ("5.7.0",),
    "redis-header-chord-error": ("5.5.3", "5.6.3", "5.7.0"),
    "redis-chord-body-chord-error": ("5.5.3", "5.6.3", "5.7.0"),
    "database-header-chord-body-chord": ("5.5.3", "5.6.3", "5.7.0"),
    "redis-header-chain-group-chord": ("5.7.0",),
    "redis-header-chord-group-body-chord": ("5.7.0",),
    "database-retry-state": ("5.7.0",),
    "worker-exit-on-reconnect": ("5.7.0",),
    "worker-lost-after-success": ("5.7.0",),
    "chord-claim-held-by-killed-worker": ("5.7.0",),
    "redis-message-lost-off-queue": ("5.7.0",),
}
