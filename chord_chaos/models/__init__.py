"""The reference model, pure: canvases, their predicted outcome, fault plans and what Celery
promises under them. No Celery, no I/O, no clock; imports nothing else of chord-chaos."""
