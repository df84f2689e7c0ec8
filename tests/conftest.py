"""Hypothesis profiles, chosen explicitly (Hypothesis would pick its own ``ci`` profile
whenever CI is set): ``gate`` is derandomized with no example database, for a fixed CI slice;
``dev`` explores and remembers failures in .hypothesis/. Select with CC_HYPOTHESIS_PROFILE."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "gate", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("CC_HYPOTHESIS_PROFILE", "gate" if os.environ.get("CI") else "dev"))
