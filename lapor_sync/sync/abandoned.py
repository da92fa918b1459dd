"""Runs left ``running`` by a process that is gone: found and closed as ``abandoned``.

A run row is written ``running`` when the run starts and closed when it ends, whatever the end;
only a process that dies (SIGKILL, the OOM killer, a power cut) leaves it open, and then nothing
else would ever close it: ``runs`` and ``status`` would show it running forever. Each run records
its holder (:mod:`lapor_sync.storage.holders`) and the job leases it held, so:

* a runner that has just taken a lease closes the runs that held that lease and whose holder is
  gone: ended on this host, or on another host (it lost that lease to us, and nothing here can
  see whether it still runs; if it does, it closes its run again when it ends, its own outcome
  in place of ``abandoned``). A live holder on this host is left alone: it lost the lease but it
  runs, and ends its run itself (as ``failed``, its lease checked before it ends);
* a worker starting closes the runs whose holder was a process of this host that has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.runs import RunOutcome
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.database import Database
from lapor_sync.storage.holders import Liveness, liveness
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.journal import Level, add_event


def abandon_runs_lost_to(
    db: Database, clock: Clock, institution_id: int, leases: Sequence[str], taker: str
) -> list[int]:
    """Close as ``abandoned`` the runs of ``institution_id`` that held one of ``leases``, now ours, and are gone.

    Call it right after taking ``leases``. A run counts as gone when its holder ended on this host,
    or is on another host (or unknown); a live holder on this host is left to end its run itself.

    Args:
        db: the city's database.
        clock: where "now" comes from (``finished_at``, aware UTC).
        institution_id: the institution whose runs are looked at.
        leases: the job leases just taken (``pull``, ``push``, ...).
        taker: who took them (a holder name), named in the closing reason.

    Returns:
        The ids of the runs closed.
    """
    taken = set(leases)

    def reason(run: SyncRun, state: Liveness) -> str | None:
        shared = sorted(taken & set((run.leases or "").split(",")))
        if not shared or state is Liveness.ALIVE:
            return None
        why = "its process has ended" if state is Liveness.GONE else "it lost it and cannot be seen from here"
        return f"abandoned: {run.holder} held the {', '.join(shared)} lease; {taker} took it over ({why})"

    return _close(db, clock, institution_id, reason)


def abandon_runs_of_ended_processes(db: Database, clock: Clock, institution_id: int) -> list[int]:
    """Close as ``abandoned`` the runs of ``institution_id`` whose holder was a process of this host that has ended.

    The worker calls it when it starts: a worker killed and restarted (by systemd, a container
    runtime) finds the run its predecessor left open. Runs of live processes, of other hosts and
    of holders named before incarnations were recorded are left alone.

    Returns:
        The ids of the runs closed.
    """

    def reason(run: SyncRun, state: Liveness) -> str | None:
        return None if state is not Liveness.GONE else f"abandoned: its process {run.holder} has ended"

    return _close(db, clock, institution_id, reason)


def _close(
    db: Database, clock: Clock, institution_id: int, reason: Callable[[SyncRun, Liveness], str | None]
) -> list[int]:
    """Close each ``running`` run with a holder for which ``reason`` gives a reason; one event each."""
    with db.session() as session:
        running = list(
            session.exec(
                select(SyncRun)
                .where(
                    SyncRun.institution_id == institution_id,
                    SyncRun.outcome == RunOutcome.RUNNING,
                    col(SyncRun.holder).is_not(None),
                )
                .order_by(col(SyncRun.id))
            )
        )
    closed = []
    for run in running:
        why = reason(run, liveness(run.holder))
        if why is not None and _abandon(db, clock.now(), run, why):
            closed.append(run.id or 0)
    return closed


def _abandon(db: Database, now: datetime, run: SyncRun, why: str) -> bool:
    """Close ``run`` if it is still ``running`` (it may end by itself meanwhile), with its event."""
    with db.session() as session:
        result = session.execute(
            update(SyncRun)
            .where(col(SyncRun.id) == run.id, col(SyncRun.outcome) == RunOutcome.RUNNING)
            .values(outcome=RunOutcome.ABANDONED, finished_at=now, error=why)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        add_event(
            session,
            now,
            "run.abandoned",
            f"Sync run #{run.id} ({run.job}, started {display_wib(run.started_at)}) closed as abandoned: "
            f"{why.removeprefix('abandoned: ')}.",
            level=Level.WARNING,
            run_id=run.id,
        )
        session.commit()
    return True
