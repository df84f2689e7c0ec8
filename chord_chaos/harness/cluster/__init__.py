"""Clusters: what runners need from one (``protocols``), a local cluster of processes, the
docker-compose adapter, and the broker probe. Built from ``infra`` and ``worker``."""
