"""Sync runs in words: the jobs a run does, the outcomes it ends with, the levels of its events.

The values are what ``sync_run.job``, ``sync_run.outcome``, ``sync_event.level`` and
``lease.job`` store (migration 0001), and what ``lapor-sync runs``, ``--json`` and ``/metrics``
show: renaming one is a migration, not an edit here.
"""

from __future__ import annotations

from enum import StrEnum


class Job(StrEnum):
    """What a sync run does; also the name of a job lease (``pull`` and ``push`` are the leases runs take).

    ``pull``: walk the inbox and store what changed. ``push``: drain the outbox. ``sync``: a pull,
    then a push, in one run. ``reconcile``: reread open cases not seen in the inbox lately.
    ``resync``: reread chosen complaints and reapply the mapping (an admin's command). ``sla``: the
    daily check for overdue deadlines. ``retention``: prune old sync events. ``purge``: remove
    personal data of cases closed long ago.
    """

    PULL = "pull"
    PUSH = "push"
    SYNC = "sync"
    RECONCILE = "reconcile"
    RESYNC = "resync"
    SLA = "sla"
    RETENTION = "retention"
    PURGE = "purge"


PULL_JOBS = (Job.PULL, Job.SYNC)
"""The jobs whose runs pull (a ``sync`` pulls and pushes)."""
PUSH_JOBS = (Job.PUSH, Job.SYNC)
"""The jobs whose runs push."""


class RunOutcome(StrEnum):
    """How a sync run ended: ``running`` until it does.

    ``ok``: done. ``failed``: stopped by the platform, a lost lease or claim, or a bug, with the
    reason in ``sync_run.error``. ``interrupted``: stopped on request (the worker's SIGTERM,
    Ctrl-C) after the item in flight; not a fault. ``abandoned``: its process went away without
    closing it, closed by another (:mod:`lapor_sync.sync.abandoned`).
    """

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"


class Level(StrEnum):
    """Severity of a sync event; ``sync_event.level`` stores the value, ``lapor-sync log --level`` filters by it."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
