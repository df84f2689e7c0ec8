"""Process infrastructure: the supervisor and its registry, loopback ports, and the servers the
harness owns (redis-server, toxiproxy-server, celery worker nodes). Knows nothing of canvases
or checks; imports no other chord-chaos package."""
