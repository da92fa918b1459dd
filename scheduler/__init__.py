"""The scheduled service, ``lapor-sync worker``: jobs, ticks, the outbox watcher, health and metrics endpoints."""
