"""The real runtime: processes, the code inside Celery workers, clusters, and the runners that
turn a canvas (and a fault plan) into a History.

``infra`` owns processes; ``worker`` runs inside ``celery worker``; ``cluster`` assembles them;
``run`` submits canvases, applies faults and records histories."""
