"""Admin operations on synced data: resync, selections of cases, purge, retention, outbox admin."""
