"""Checking, pure: a History (what a run recorded) against a Prediction gives a Verdict.

Events and histories, the exact checks of a healthy run, the bounded checks of a faulted one,
the verdict, the known-issues register and the lost-message rule. No Celery, no I/O: imports
only ``models``, so ``chord-chaos analyze`` re-checks a saved history anywhere."""
