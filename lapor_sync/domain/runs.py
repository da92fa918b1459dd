"""Sync runs in words: the jobs a run does, the outcomes it ends with, the levels of its events.

The values are what ``sync_run.job``, ``sync_run.outcome``, ``sync_event.level`` and
``lease.job`` store (migration 0001), and what ``lapor-sync runs``, ``--json`` and ``/metrics``
show: renaming one is a migration, not an edit here.
"""

from __future__ import annotations

from collections.abc import Iterable
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


class Verdict(StrEnum):
    """What a finished run comes to for whoever started it: ``sync`` and ``worker --once`` exit with it.

    ``ok``: it did everything it tried. ``partly_failed``: it finished and delivered some outbox rows,
    but others failed (they are retried later) or became dead letters. ``failed``: nothing got
    through: the run failed or was stopped, or not one of the outbox rows it tried was delivered (a
    push against a national side that is down). A pull has no middle ground: a complaint it cannot
    read fails the run until the complaint is set aside (:mod:`lapor_sync.sync.pull`).
    """

    OK = "ok"
    PARTLY_FAILED = "partly_failed"
    FAILED = "failed"


def verdict(outcome: str, *, pushed: int, failed: int, dead_lettered: int) -> Verdict:
    """The :class:`Verdict` of a run that ended with ``outcome`` and these push counters.

    Args:
        outcome: a :class:`RunOutcome` value other than ``running``.
        pushed: outbox rows delivered by the run.
        failed: failed attempts of outbox rows (each retried later).
        dead_lettered: outbox rows the run gave up as dead letters.
    """
    if outcome != RunOutcome.OK:
        return Verdict.FAILED
    if not failed and not dead_lettered:
        return Verdict.OK
    return Verdict.PARTLY_FAILED if pushed else Verdict.FAILED


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts`` (``ok`` for none): what several runs, as ``worker --once`` starts, come to."""
    order = list(Verdict)
    return max(verdicts, key=order.index, default=Verdict.OK)
