"""Runners, in the client: compile a canvas to Celery signatures, submit it, apply a fault plan
(the nemesis), read the ledger back and write each History to disk before it is checked."""
