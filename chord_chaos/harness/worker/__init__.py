"""Code that runs inside every ``celery worker`` process: the instrumented Celery app, the
ledger writer and the delivery recorder. Imports only ``models`` and itself, never the client,
campaign, report or cli code."""
