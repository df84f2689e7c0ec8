"""The Celery under test: which one (a release, a requirement, a checkout), the isolated
environment built for it with uv, the settings applied to it, and the provenance every result
records. Runs in the client before any Celery is imported: nothing here imports Celery."""
