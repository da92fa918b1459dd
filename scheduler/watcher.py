"""The outbox watcher: starts the push job at once when outbox rows became due since the last push.

"Due since the last push": a waiting row whose ``next_attempt_at`` is past and later than the
start of the last push run (by any runner). That is a new row (its first attempt is due when it
is written) or a retry whose backoff ended. Rows held back behind an earlier failed row of the
same case were due before that push and do not count, so a stuck case does not start a push
every few seconds.

"The last push" is the push run with the highest id, not the latest start: a run stamped by a clock
that was ahead would hide every row written until the clock caught up. A last push that started
in the future (the clock stepped back since) is no reference at all: every due row counts, and the
push that starts goes on record with the present time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from lapor_sync.app import App
from lapor_sync.domain.outbox import WAITING
from lapor_sync.domain.runs import PUSH_JOBS, Job
from lapor_sync.scheduler.crashes import CrashedJobs
from lapor_sync.scheduler.jobs import OUTBOX_WATCH
from lapor_sync.scheduler.runner import TickRunner
from lapor_sync.scheduler.storage_state import StorageState
from lapor_sync.storage.lease import held_leases
from lapor_sync.storage.models import OutboxItem, SyncRun

log = logging.getLogger("lapor_sync.worker")


def rows_due_since_last_push(session: Session, institution_id: int, now: datetime) -> int:
    """Count waiting outbox rows of ``institution_id`` that became due after the last push run started (see above)."""
    last_push = session.exec(
        select(SyncRun.started_at)
        .where(SyncRun.institution_id == institution_id, col(SyncRun.job).in_(PUSH_JOBS))
        .order_by(col(SyncRun.id).desc())
        .limit(1)
    ).first()
    query = (
        select(func.count())
        .select_from(OutboxItem)
        .where(
            OutboxItem.institution_id == institution_id,
            col(OutboxItem.state).in_(WAITING),
            OutboxItem.next_attempt_at <= now,
        )
    )
    if last_push is not None and last_push <= now:
        query = query.where(OutboxItem.next_attempt_at > last_push)
    return session.exec(query).one()


class OutboxWatcher:
    """Looks for due outbox rows every ``outbox_watch_seconds`` and starts the push job early.

    Args:
        app: the composition root.
        runner: the worker's job runner (knows whether a push is in flight here).
        start_push: moves the push job's next run to now (``scheduler.modify_job``).
        stop: the worker's stop event; nothing is started once it is set.
        storage: where a database fault met by a look is reported (once per change of state).
        crashes: where a look that crashed (a bug) is kept for ``/healthz``, as job ``outbox-watch``.
    """

    def __init__(
        self,
        app: App,
        runner: TickRunner,
        start_push: Callable[[], None],
        stop: threading.Event,
        storage: StorageState,
        crashes: CrashedJobs,
    ) -> None:
        self._app, self._runner, self._start_push, self._stop = app, runner, start_push, stop
        self._storage, self._crashes = storage, crashes

    def check(self) -> bool:
        """Start the push now if rows became due since the last push; return whether it was started.

        A push in flight in this worker is left alone: rows written meanwhile are still "due since
        the last push" when it ends, and the next check starts another. So is one in flight in another
        process (it holds the push lease): starting ours would only be skipped, every few seconds.
        """
        if self._stop.is_set() or self._runner.running(Job.PUSH):
            return False
        try:
            due = self._due()
        except Exception as exc:  # neither a bug nor the database going away may stop the watcher
            if not self._storage.failed("the outbox watcher", exc):
                log.exception("job %s crashed; the next look tries again", OUTBOX_WATCH, extra={"job": OUTBOX_WATCH})
                self._crashes.crashed(OUTBOX_WATCH)
            return False
        self._crashes.ended(OUTBOX_WATCH)
        if not due:
            return False
        log.info(
            "outbox: %d row(s) became due since the last push; pushing now", due, extra={"job": Job.PUSH, "due": due}
        )
        self._runner.prompt(Job.PUSH)
        self._start_push()
        return True

    def _due(self) -> int:
        """Rows due since the last push; 0 while another process pushes (its push takes them)."""
        if self._pushing_elsewhere():
            return 0
        with self._app.db.session() as session:
            return rows_due_since_last_push(session, self._app.institution_id, self._app.clock.now())

    def _pushing_elsewhere(self) -> bool:
        return any(
            lease.job == Job.PUSH and lease.institution_id == self._app.institution_id
            for lease in held_leases(self._app.db, self._app.clock)
        )
