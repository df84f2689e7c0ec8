"""Upstream reproductions: a report written out as plain Celery (``tasks.py``, ``repro.py``) and
as an issue text, for a maintainer who will not install chord-chaos. Runs in the client, writes
text only: it imports no Celery, since the files it writes are for another machine's Celery."""
