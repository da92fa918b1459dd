"""Health of the sync: ``ok``, ``degraded`` or ``failing``, with the reasons; for ``status`` and ``/healthz``.

Thresholds come from the ``status_*_seconds`` settings. Failing: the database cannot be written,
no successful pull yet, the last pull failed, the last successful pull is older than
``status_pull_failing_seconds`` or finished in the future (this clock is behind the one that
stamped it, so its age says nothing). Degraded: the last successful pull is older than
``status_pull_degraded_seconds``; outbox rows have waited with nothing delivered for longer than
``status_push_degraded_seconds``; the oldest waiting row is older than
``status_outbox_oldest_degraded_seconds``; the last push failed, or the last push that tried rows
delivered none of them while rows still wait; a delivery or an outbox row stamped in the future; runs abandoned by a dead process in the last day; or there are dead letters, unresolved
set-aside records, complaints whose reads failed in the last pull runs (set aside after
``set_aside_after_failures`` runs in a row: :mod:`lapor_sync.sync.read_failures`), or open cases in
triage (no mapping rule matched).

A push run is not a delivery: "the last push attempt" is the last push run that tried at least one
outbox row, "the last push that delivered" the last one that delivered at least one. A run whose
every attempt failed (the national side down) or that found nothing due is an attempt or nothing,
never a good push.

"The last run" is the one with the highest id, never the latest wall-clock stamp: a run stamped
by a clock that was ahead would otherwise stay "the last" until the clock caught up.

The read side: it is given a database, the mapping, the settings and a clock, and knows nothing of
the composition root (:mod:`lapor_sync.app`), which depends on it, not the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import Clock
from lapor_sync.domain.outbox import WAITING, OutboxState
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.runs import PULL_JOBS, PUSH_JOBS, RunOutcome
from lapor_sync.domain.status import CaseState
from lapor_sync.queries.daily import overdue_by_agency
from lapor_sync.reports.reasons import Reason
from lapor_sync.reports.sla import sla_policy
from lapor_sync.storage.database import Database
from lapor_sync.storage.faults import probe_write
from lapor_sync.storage.holders import Liveness, liveness
from lapor_sync.storage.lease import held_leases
from lapor_sync.storage.models import Case, Cursor, OutboxItem, ReadFailure, SetAsideRecord, SyncRun
from lapor_sync.sync.cursor import cursor_name

ABANDONED_WINDOW = timedelta(hours=24)
_OPEN = [CaseState.NEW.value, CaseState.IN_PROGRESS.value]


class Health(StrEnum):
    """The overall state; :attr:`exit_code` is what ``lapor-sync status`` exits with."""

    OK = "ok"
    DEGRADED = "degraded"
    FAILING = "failing"

    @property
    def exit_code(self) -> int:
        """0 ok, 1 degraded, 2 failing."""
        return {"ok": 0, "degraded": 1, "failing": 2}[self.value]


def say_age(seconds: int | None) -> Reason:
    """Say an age for people: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; ``never`` for none.

    A :class:`Reason`, so that the console says it in the reader's language, alone or inside a
    health reason (the CLI and JSON use its English text).

    Args:
        seconds: the age in seconds (not negative), or ``None``.
    """
    if seconds is None:
        return Reason("never")
    s = seconds
    if s < 60:
        return Reason("%(n)d s", n=s)
    if s < 3600:
        return Reason("%(n)d min", n=s // 60)
    if s < 86400:
        return Reason("%(h)d h %(m)d min", h=s // 3600, m=s % 3600 // 60)
    return Reason("%(d)d d %(h)d h", d=s // 86400, h=s % 86400 // 3600)


@dataclass(frozen=True)
class HealthReport:
    """The verdict, why, and the facts behind it (datetimes aware UTC, ages in seconds)."""

    health: Health
    reasons: list[Reason]
    facts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``health``, ``reasons``, then the facts."""
        return {"health": self.health.value, "reasons": self.reasons, **self.facts}


def _age(instant: datetime | None, now: datetime) -> int | None:
    return None if instant is None else int((now - instant).total_seconds())


def _last_run(
    session: Session, institution_id: int, jobs: tuple[str, ...], outcomes: tuple[str, ...]
) -> SyncRun | None:
    return session.exec(
        select(SyncRun)
        .where(SyncRun.institution_id == institution_id, col(SyncRun.job).in_(jobs), col(SyncRun.outcome).in_(outcomes))
        .order_by(col(SyncRun.id).desc())
        .limit(1)  # first() alone would build every matching run before keeping one
    ).first()


def _last_push(session: Session, institution_id: int, *where: Any) -> SyncRun | None:
    """The push run (a ``push`` or a ``sync``) with the highest id that ended and matches ``where``."""
    return session.exec(
        select(SyncRun)
        .where(
            SyncRun.institution_id == institution_id,
            col(SyncRun.job).in_(PUSH_JOBS),
            SyncRun.outcome != RunOutcome.RUNNING,
            *where,
        )
        .order_by(col(SyncRun.id).desc())
        .limit(1)
    ).first()


_PUSH_COUNTERS = ("pushed", "failed", "dead_lettered")


def _attempt(run: SyncRun | None, now: datetime) -> dict[str, Any] | None:
    """A push run as its time and what became of the rows it tried."""
    found = _ok(run, now)
    return None if found is None else found | {name: getattr(run, name) for name in _PUSH_COUNTERS}


def _ok(run: SyncRun | None, now: datetime) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"run_id": run.id, "finished_at": run.finished_at, "age_seconds": _age(run.finished_at, now)}


def _count(session: Session, *where: Any) -> int:
    return session.exec(select(func.count()).select_from(Case).where(*where)).one()


def _read_failures(session: Session, institution_id: int) -> list[dict[str, Any]]:
    """The complaints whose reads failed in consecutive pull runs: runs in a row, last reason, whether set aside."""
    rows = list(
        session.exec(
            select(ReadFailure)
            .where(ReadFailure.institution_id == institution_id)
            .order_by(col(ReadFailure.failures).desc(), col(ReadFailure.complaint_id))
        )
    )
    if not rows:
        return []
    aside = set(
        session.exec(
            select(SetAsideRecord.complaint_id).where(
                SetAsideRecord.institution_id == institution_id,
                col(SetAsideRecord.complaint_id).in_([row.complaint_id for row in rows]),
                col(SetAsideRecord.resolved_at).is_(None),
            )
        )
    )
    return [
        {
            "complaint_id": row.complaint_id,
            "failed_runs_in_a_row": row.failures,
            "set_aside": row.complaint_id in aside,
            "reason": row.reason,
            "last_failed_at": row.last_failed_at,
        }
        for row in rows
    ]


def gather(db: Database, session: Session, mapping: CityMapping, settings: Settings, clock: Clock) -> dict[str, Any]:
    """Read the facts health is judged on (see :class:`HealthReport`).

    Args:
        db: the city's database (a write is tried on it and rolled back; its leases are listed).
        session: a session on ``db``, for the reads.
        mapping: the city's mapping: its institution's facts are read, its triage agency named.
        settings: the ``sla_*`` settings, to count the overdue cases.
        clock: where "now" comes from; ages are counted from it.

    Returns:
        The facts, JSON-ready once datetimes are (aware UTC; ages in seconds).
    """
    institution, now = mapping.institution.id, clock.now()
    last = session.exec(
        select(SyncRun)
        .where(SyncRun.institution_id == institution, SyncRun.outcome != RunOutcome.RUNNING)
        .order_by(col(SyncRun.id).desc())
        .limit(1)
    ).first()
    cursor = session.get(Cursor, cursor_name(institution))
    per_state = dict(
        session.exec(
            select(OutboxItem.state, func.count())
            .where(OutboxItem.institution_id == institution)
            .group_by(OutboxItem.state)
        ).all()
    )
    oldest_waiting = session.exec(
        select(func.min(OutboxItem.created_at)).where(
            OutboxItem.institution_id == institution, col(OutboxItem.state).in_(WAITING)
        )
    ).one()
    set_aside = session.exec(
        select(func.count())
        .select_from(SetAsideRecord)
        .where(SetAsideRecord.institution_id == institution, col(SetAsideRecord.resolved_at).is_(None))
    ).one()
    open_case = (Case.institution_id == institution, col(Case.state).in_(_OPEN))
    overdue = overdue_by_agency(session, institution, policy=sla_policy(settings), now=now)
    abandoned = session.exec(
        select(func.count())
        .select_from(SyncRun)
        .where(
            SyncRun.institution_id == institution,
            SyncRun.outcome == RunOutcome.ABANDONED,
            col(SyncRun.finished_at) >= now - ABANDONED_WINDOW,
        )
    ).one()
    finished = (RunOutcome.OK, RunOutcome.FAILED)
    waiting = session.exec(
        select(SyncRun)
        .where(
            SyncRun.institution_id == institution,
            SyncRun.outcome == RunOutcome.RUNNING,
            col(SyncRun.quota_wait_until) > now,
        )
        .order_by(col(SyncRun.id))
    ).all()
    return {
        "institution_id": institution,
        "now": now,
        "database": {"write_fault": probe_write(db, now)},
        "last_pull": _ok(_last_run(session, institution, PULL_JOBS, (RunOutcome.OK,)), now),
        "last_push_attempt": _attempt(
            _last_push(session, institution, SyncRun.pushed + SyncRun.failed + SyncRun.dead_lettered > 0), now
        ),
        "last_push_delivered": _attempt(_last_push(session, institution, SyncRun.pushed > 0), now),
        "last_pull_run": _brief(_last_run(session, institution, PULL_JOBS, finished)),
        "last_push_run": _brief(_last_run(session, institution, PUSH_JOBS, finished)),
        "last_run": _brief(last),
        "cursor": {
            "name": cursor_name(institution),
            "position": cursor.position if cursor else None,
            "updated_at": cursor.updated_at if cursor else None,
        },
        "outbox": {s.value: per_state.get(s.value, 0) for s in OutboxState},
        "oldest_pending_age_seconds": _age(oldest_waiting, now),
        "set_aside_unresolved": set_aside,
        "read_failures": _read_failures(session, institution),
        "open_cases": _count(session, *open_case),
        "triage": {
            "agency": mapping.triage.agency,
            "open_cases": _count(session, *open_case, Case.routing_rule == "triage"),
        },
        "sla_overdue_cases": sum(overdue.values()),
        "sla_overdue_by_agency": overdue,
        "abandoned_runs_24h": abandoned,
        # Runs under way whose requests wait on the request quota (CONTRACT §7 G4), and until when.
        "quota_waits": [{"run_id": run.id, "job": run.job, "until": run.quota_wait_until} for run in waiting],
        "leases": [
            # ended: a holder of this host whose process is gone; the next run takes the lease over at once
            {"job": lease.job, "holder": lease.holder, "since": lease.acquired_at, "ended": _ended(lease.holder)}
            for lease in held_leases(db, clock)
            if lease.institution_id == institution
        ],
    }


def _ended(holder: str) -> bool:
    """Whether ``holder`` is a process of this host that has ended (its lease is taken over at once)."""
    return liveness(holder) is Liveness.GONE


def _brief(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.id,
        "job": run.job,
        "outcome": run.outcome,
        "finished_at": run.finished_at,
        "error": run.error,
    }


Finding = tuple[Health, Reason]
"""One reason for a verdict: how bad (``degraded`` or ``failing``) and why, in words for people."""


def judge(facts: dict[str, Any], settings: Settings) -> HealthReport:
    """Judge ``facts`` (from :func:`gather`) against the ``status_*_seconds`` thresholds of ``settings``.

    The reasons come failing first, then degraded, each in the order of :data:`_CHECKS`.
    """
    findings = [finding for check in _CHECKS for finding in check(facts, settings)]
    failing = [reason for health, reason in findings if health is Health.FAILING]
    degraded = [reason for health, reason in findings if health is Health.DEGRADED]
    health = Health.FAILING if failing else (Health.DEGRADED if degraded else Health.OK)
    return HealthReport(health, failing + degraded, facts)


def _database(facts: dict[str, Any], _settings: Settings) -> Iterator[Finding]:
    """Failing while the database cannot be written: every run would fail."""
    fault = facts["database"]["write_fault"]
    if fault:
        yield (
            Health.FAILING,
            Reason(
                "the database cannot be written (LAPOR_SYNC_DATABASE_URL): %(fault)s; every run fails until it can",
                fault=fault,
            ),
        )


def _pull(facts: dict[str, Any], s: Settings) -> Iterator[Finding]:
    """Failing without a recent good pull (or one stamped in the future), or when the last pull failed.

    Degraded when the last good pull is getting old.
    """
    last_ok, last_run = facts["last_pull"], facts["last_pull_run"]
    age = last_ok["age_seconds"] if last_ok else None
    if age is None:
        yield Health.FAILING, Reason("no successful pull yet")
    elif age < 0:
        yield (
            Health.FAILING,
            Reason(
                "last successful pull (run #%(run)d) finished %(age)s in the future: the clock here is behind the one "
                "that stamped it (stepped back? check NTP: timedatectl timesync-status)",
                run=last_ok["run_id"],
                age=say_age(-age),
            ),
        )
    elif age > s.status_pull_failing_seconds:
        yield (
            Health.FAILING,
            Reason(
                "last successful pull %(age)s ago (failing after %(limit)s)",
                age=say_age(age),
                limit=say_age(s.status_pull_failing_seconds),
            ),
        )
    elif age > s.status_pull_degraded_seconds:
        yield (
            Health.DEGRADED,
            Reason(
                "last successful pull %(age)s ago (degraded after %(limit)s)",
                age=say_age(age),
                limit=say_age(s.status_pull_degraded_seconds),
            ),
        )
    if last_run is not None and last_run["outcome"] == RunOutcome.FAILED:
        yield (
            Health.FAILING,
            Reason("last pull run #%(run)d failed: %(error)s", run=last_run["run_id"], error=last_run["error"]),
        )


def _push(facts: dict[str, Any], s: Settings) -> Iterator[Finding]:
    """Degraded after a failed push or a push that delivered nothing it tried, or while rows wait undelivered.

    Rows waiting count once nothing was delivered for ``status_push_degraded_seconds``; a delivery
    stamped in the future is degraded too.
    """
    last_pull, last_push = facts["last_pull_run"], facts["last_push_run"]
    same_run = last_pull is not None and last_push is not None and last_pull["run_id"] == last_push["run_id"]
    if last_push is not None and last_push["outcome"] == RunOutcome.FAILED and not same_run:  # a sync: said once
        yield (
            Health.DEGRADED,
            Reason("last push run #%(run)d failed: %(error)s", run=last_push["run_id"], error=last_push["error"]),
        )
    said = last_push["run_id"] if last_push is not None and last_push["outcome"] == RunOutcome.FAILED else None
    attempt, delivered = facts["last_push_attempt"], facts["last_push_delivered"]
    waiting = sum(facts["outbox"][state] for state in WAITING)
    # Only while rows wait: once an admin cancelled them (or they became dead letters, said below)
    # that attempt is history, and no later push will come to replace it.
    if waiting and attempt is not None and not attempt["pushed"] and attempt["run_id"] != said:
        yield (
            Health.DEGRADED,
            Reason(
                "last push attempt (run #%(run)d) delivered nothing: %(failed)s failed, %(dead)s (lapor-sync outbox)",
                run=attempt["run_id"],
                failed=Reason.counted("%(n)d attempt", "%(n)d attempts", attempt["failed"], n=attempt["failed"]),
                dead=_dead_letters(attempt["dead_lettered"]),
            ),
        )
    age = delivered["age_seconds"] if delivered else None
    if age is not None and age < 0:
        yield (
            Health.DEGRADED,
            Reason(
                "last push that delivered (run #%(run)d) finished %(age)s in the future: the clock here is behind the "
                "one that stamped it (stepped back? check NTP: timedatectl timesync-status)",
                run=delivered["run_id"],
                age=say_age(-age),
            ),
        )
    oldest = facts["oldest_pending_age_seconds"]
    # Stuck since the later of the last delivery and the oldest waiting row: an outbox idle for days
    # whose first new row waits a minute is not stuck.
    stuck = oldest if age is None or oldest is None else min(age, oldest)
    if waiting and stuck is not None and stuck > s.status_push_degraded_seconds:
        last = (
            Reason("no push has delivered yet")
            if age is None
            else Reason("the last push that delivered was %(age)s ago", age=say_age(age))
        )
        yield (
            Health.DEGRADED,
            Reason(
                "%(rows)s waiting and nothing delivered for %(stuck)s (degraded after %(limit)s; %(last)s)",
                rows=Reason.counted("%(n)d outbox row", "%(n)d outbox rows", waiting, n=waiting),
                stuck=say_age(stuck),
                limit=say_age(s.status_push_degraded_seconds),
                last=last,
            ),
        )


def _outbox(facts: dict[str, Any], s: Settings) -> Iterator[Finding]:
    """Degraded when the oldest waiting row is old or stamped in the future, or when dead letters wait."""
    oldest = facts["oldest_pending_age_seconds"]
    if oldest is not None and oldest < 0:
        yield (
            Health.DEGRADED,
            Reason(
                "oldest waiting outbox row was written %(age)s in the future: the clock here is behind the one that "
                "stamped it (stepped back? check NTP: timedatectl timesync-status)",
                age=say_age(-oldest),
            ),
        )
    if oldest is not None and oldest > s.status_outbox_oldest_degraded_seconds:
        yield (
            Health.DEGRADED,
            Reason(
                "oldest waiting outbox row is %(age)s old (degraded after %(limit)s)",
                age=say_age(oldest),
                limit=say_age(s.status_outbox_oldest_degraded_seconds),
            ),
        )
    dead = facts["outbox"][OutboxState.DEAD]
    if dead:
        yield (
            Health.DEGRADED,
            Reason("%(dead)s in the outbox (lapor-sync outbox --state dead)", dead=_dead_letters(dead)),
        )


def _left_for_people(facts: dict[str, Any], settings: Settings) -> Iterator[Finding]:
    """Degraded while something waits for people: abandoned runs, set-aside records, reads failing, open cases in triage."""
    if facts["abandoned_runs_24h"]:
        abandoned = facts["abandoned_runs_24h"]
        yield (
            Health.DEGRADED,
            Reason(
                "%(runs)s abandoned in the last 24 h: their process died mid-run (lapor-sync runs --outcome abandoned)",
                runs=Reason.counted("%(n)d run", "%(n)d runs", abandoned, n=abandoned),
            ),
        )
    if unresolved := facts["set_aside_unresolved"]:
        yield (
            Health.DEGRADED,
            Reason.counted(
                "%(n)d set-aside national record unresolved",
                "%(n)d set-aside national records unresolved",
                unresolved,
                n=unresolved,
            ),
        )
    for failing in facts["read_failures"]:
        if not failing["set_aside"]:
            runs = failing["failed_runs_in_a_row"]
            yield (
                Health.DEGRADED,
                Reason(
                    "complaint %(complaint)d: reading it failed %(runs)s in a row (%(reason)s); set aside after %(limit)d runs",
                    complaint=failing["complaint_id"],
                    runs=Reason.counted("%(n)d pull run", "%(n)d pull runs", runs, n=runs),
                    reason=failing["reason"],
                    limit=settings.set_aside_after_failures,
                ),
            )
    if triage := facts["triage"]["open_cases"]:
        yield (
            Health.DEGRADED,
            Reason(
                "%(cases)s in triage at %(agency)s (no mapping rule matched)",
                cases=Reason.counted("%(n)d open case", "%(n)d open cases", triage, n=triage),
                agency=facts["triage"]["agency"],
            ),
        )


_CHECKS: tuple[Callable[[dict[str, Any], Settings], Iterator[Finding]], ...] = (
    _database,
    _pull,
    _push,
    _outbox,
    _left_for_people,
)
"""What :func:`judge` looks at, in the order its reasons are given."""


def _dead_letters(count: int) -> Reason:
    return Reason.counted("%(n)d dead letter", "%(n)d dead letters", count, n=count)


def assess(db: Database, mapping: CityMapping, settings: Settings, clock: Clock) -> HealthReport:
    """Gather the facts of the mapping's institution from ``db`` and judge them (:func:`gather`, then :func:`judge`).

    Args:
        db: the city's database.
        mapping: the city's mapping (its institution, its triage agency).
        settings: the ``status_*_seconds`` thresholds and the ``sla_*`` settings.
        clock: where "now" comes from.
    """
    with db.session() as session:
        return judge(gather(db, session, mapping, settings, clock), settings)
