"""Purge: remove the reporter's identity and the words of cases closed longer than the retention period.

UU 27/2022 (Indonesia's personal data protection law) asks that personal data be kept no longer
than its purpose needs. Once a case has been closed (completed, archived, forwarded or rejected)
for ``purge_after_days`` (default 730, two years), the city no longer needs to know who reported
it nor what they wrote. Per case, in one transaction with one ``case.purged`` event that names
what was removed, never the removed values:

- the reporter's name, e-mail and phone become NULL;
- the place (``location_name``) becomes NULL: a free-text place often points at the reporter's home;
- the title and content become :data:`~lapor_sync.storage.models.PURGED_TEXT` (``content_length`` 0),
  and so does every thread entry's content, national and agency alike;
- the texts of its delivered, dead and cancelled outbox rows (follow-up, note, reason) too; a
  follow-up keeps its reference token, which is no personal data and lets read-back still work;
- the raw payloads of set-aside records of its complaint;
- ``purged_at`` is set, so a purge is done once and can be seen.

What statistics and service levels need stays: ids, agency, routing rule, classification,
category, channel, flags, states, national status, dates, thread entries' authors, times and
ratings. ``lapor-sync report``, ``sla`` and ``status`` count purged cases as before.

A case with an outbox row still pending or sending is skipped with a warning event: that row still
has something to tell LAPOR!. A later purge takes the case once the row is delivered or cancelled.

A purge is one run (job ``purge``) holding the ``pull`` and ``push`` leases: without them a pull in
flight could write a complaint's content back into a case just purged, and a push could be sending
a row being purged. Its counter ``updated`` counts the cases purged. A dry run only reads: no run
row, no event, no lease. How a purged case stays purged when its complaint is read again:
:mod:`lapor_sync.adapters.city.builtin`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, update
from sqlmodel import Session, col, select

from lapor_sync.domain.outbox import OutboxState
from lapor_sync.domain.reference import tag_content
from lapor_sync.domain.runs import Job
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import PURGED_TEXT, Case, OutboxItem, SetAsideRecord, SyncRun, ThreadEntry
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.service import JobRunner

JOB = Job.PURGE
LEASES = (Job.PULL, Job.PUSH)
CLOSED_STATES = tuple(s.value for s in CaseState if not s.is_open)
FINISHED_OUTBOX = (OutboxState.DELIVERED, OutboxState.DEAD, OutboxState.CANCELLED)
"""Outbox rows with nothing left to send: their texts may go."""
PAYLOAD_TEXTS = ("content", "note", "reason")
"""The free-text keys of an outbox payload (follow-up, completion note, return or forward reason)."""
REMOVED_KINDS = {
    "reporter_identities": ("reporter identity", "reporter identities"),
    "contents": ("title and content", "titles and contents"),
    "places": ("place", "places"),
    "thread_entries": ("thread entry's text", "thread entries' texts"),
    "outbox_payloads": ("outbox row's text", "outbox rows' texts"),
    "set_aside_records": ("set-aside raw payload", "set-aside raw payloads"),
}
"""Each kind of data a purge removes, in words (one, many): what the events and the command count."""


@dataclass(frozen=True)
class CasePurge:
    """What purging one case removes (in a dry run: would remove).

    Attributes:
        case_id, complaint_id, tracking_id, agency_code: which case.
        closed_at: when it was closed (aware, UTC).
        reporter: whether a reporter name, e-mail or phone was stored.
        place: whether a place was stored.
        thread_entries: thread entries whose content goes.
        outbox_payloads: delivered, dead or cancelled outbox rows whose texts go.
        set_aside_records: set-aside records of the complaint whose raw payload goes.
        waiting: outbox rows still pending or sending; more than 0 means the case is skipped.
    """

    case_id: int
    complaint_id: int
    tracking_id: str
    agency_code: str
    closed_at: datetime
    reporter: bool
    place: bool
    thread_entries: int
    outbox_payloads: int
    set_aside_records: int
    waiting: int

    def removed(self) -> dict[str, int]:
        """What goes, per kind (the keys of :data:`REMOVED_KINDS`)."""
        return {
            "reporter_identities": int(self.reporter),
            "contents": 1,
            "places": int(self.place),
            "thread_entries": self.thread_entries,
            "outbox_payloads": self.outbox_payloads,
            "set_aside_records": self.set_aside_records,
        }


@dataclass
class PurgeResult:
    """A finished purge (or dry run).

    Attributes:
        run: the run row; ``None`` for a dry run (it writes nothing).
        dry_run: whether nothing was written.
        older_than_days: the age limit used, days.
        cutoff: cases closed before this instant were due (aware, UTC).
        purged: the cases purged (dry run: that would be), oldest id first.
        skipped: due cases left alone because an outbox row still waits to be sent.
    """

    run: SyncRun | None
    dry_run: bool
    older_than_days: int
    cutoff: datetime
    purged: list[CasePurge]
    skipped: list[CasePurge]

    def removed(self) -> dict[str, int]:
        """Counts per kind of data removed (the keys of :data:`REMOVED_KINDS`), over the purged cases."""
        return {kind: sum(c.removed()[kind] for c in self.purged) for kind in REMOVED_KINDS}


def purge_cutoff(now: datetime, older_than_days: int) -> datetime:
    """The instant before which a case must have been closed to be purged: ``now`` minus the days."""
    return now - timedelta(days=older_than_days)


def plan_purge(db: Database, institution_id: int, now: datetime, older_than_days: int) -> PurgeResult:
    """What a purge would remove now (``--dry-run``); reads only, writes nothing (no run, no event).

    Args:
        db: the city's database.
        institution_id: whose cases.
        now: the current instant (aware).
        older_than_days: the age limit, days.
    """
    cutoff = purge_cutoff(now, older_than_days)
    with db.session() as session:
        due = _census(session, institution_id, cutoff)
    return PurgeResult(
        None, True, older_than_days, cutoff, [c for c in due if not c.waiting], [c for c in due if c.waiting]
    )


def run_purge(
    runner: JobRunner, older_than_days: int, *, requested_by: str, lease_wait_seconds: float = 0
) -> PurgeResult:
    """Purge every case of the runner's institution closed more than ``older_than_days`` days ago.

    Args:
        runner: the job runner (database, mapping's institution, clock, leases).
        older_than_days: the age limit, days (setting ``purge_after_days``, UU 27/2022).
        requested_by: who asked (the OS user), named in the run's closing event.
        lease_wait_seconds: how long to wait for each busy lease, seconds.

    Returns:
        The run (``ok``; ``failed`` when a lease was lost, with the cases purged until then) and
        what was removed.

    Raises:
        LeaseBusy: another runner still holds the ``pull`` or ``push`` lease after ``lease_wait_seconds``.
    """
    institution = runner.mapping.institution.id
    result = PurgeResult(None, False, older_than_days, purge_cutoff(runner.clock.now(), older_than_days), [], [])

    def work(journal: RunJournal) -> None:
        with runner.db.session() as session:  # ids only: each case's census is read again in its transaction
            due = session.exec(select(Case.id).where(*_due(institution, result.cutoff)).order_by(col(Case.id))).all()
        for case_id in due:
            journal.checkpoint()
            outcome = _purge_case(runner.db, journal, case_id, result)
            if outcome is not None:
                (result.skipped if outcome.waiting else result.purged).append(outcome)
        journal.standalone_event("purge.done", _closing(result, requested_by))

    result.run = runner.execute(
        JOB, work, leases=LEASES, trigger="command", lease_wait_seconds=lease_wait_seconds, agencies=False
    )
    return result


def _purge_case(db: Database, journal: RunJournal, case_id: int, result: PurgeResult) -> CasePurge | None:
    """Purge one case in one transaction, with its event; ``None`` if it is no longer due."""
    with db.session() as session:
        found = _census(session, journal.institution_id, result.cutoff, case_id=case_id)
        if not found:
            return None  # reopened or purged since the plan was read
        purge = found[0]
        ref = f"#{purge.tracking_id}"
        if purge.waiting:
            journal.event(
                session,
                "case.purge_skipped",
                f"Complaint {ref} not purged: {_count(purge.waiting, 'outbox row', 'outbox rows')} "
                "still waiting to reach LAPOR!; a purge after delivery or cancellation removes it.",
                level=Level.WARNING,
                complaint_id=purge.complaint_id,
                tracking_id=purge.tracking_id,
                agency_code=purge.agency_code,
            )
            session.commit()
            return purge
        case = session.get(Case, case_id)
        assert case is not None
        case.reporter_name = case.reporter_email = case.reporter_phone = case.location_name = None
        case.title = case.content = PURGED_TEXT
        case.content_length = 0
        case.purged_at = journal.clock.now()
        session.add(case)
        session.exec(
            update(ThreadEntry)
            .where(col(ThreadEntry.case_id) == case_id)  # type: ignore[call-overload]
            .values(content=PURGED_TEXT, content_length=0)
        )
        for row in session.exec(
            select(OutboxItem).where(OutboxItem.case_id == case_id, col(OutboxItem.state).in_(FINISHED_OUTBOX))
        ):
            row.payload = _purged_payload(row)
            session.add(row)
        session.exec(
            update(SetAsideRecord)  # type: ignore[call-overload]
            .where(
                SetAsideRecord.institution_id == journal.institution_id,
                SetAsideRecord.complaint_id == purge.complaint_id,
            )
            .values(raw=json.dumps(PURGED_TEXT))
        )
        journal.event(
            session,
            "case.purged",
            f"Complaint {ref} purged, closed since {display_wib(purge.closed_at)} (more than "
            f"{result.older_than_days} days): removed {_in_words(purge.removed())}. Kept: ids, agency, "
            "category, states and dates.",
            complaint_id=purge.complaint_id,
            tracking_id=purge.tracking_id,
            agency_code=purge.agency_code,
        )
        session.commit()
    journal.counts.updated += 1
    return purge


def texts_purged(row: OutboxItem) -> bool:
    """Whether a purge removed the texts of outbox row ``row``: it must never be sent again.

    LAPOR! would receive :data:`~lapor_sync.storage.models.PURGED_TEXT` as the follow-up, note or
    reason (``lapor-sync outbox retry`` refuses such a row). Read from the payload, not from the
    case: a case reopened on LAPOR! after its purge is no longer purged, but its old rows' texts are gone.
    """
    return any(key in row.payload for key in PAYLOAD_TEXTS) and _purged_payload(row) == row.payload


def _purged_payload(row: OutboxItem) -> dict[str, Any]:
    """The row's payload with its texts replaced; a follow-up keeps its reference token up front."""
    payload = dict(row.payload)
    for key in PAYLOAD_TEXTS:
        if key in payload:
            payload[key] = tag_content(row.idempotency_key, PURGED_TEXT) if key == "content" else PURGED_TEXT
    return payload


def _due(institution_id: int, cutoff: datetime) -> list[ColumnElement[bool]]:
    """Conditions on :class:`Case`: the institution's closed cases, closed before ``cutoff``, not purged yet."""
    return [
        Case.institution_id == institution_id,
        col(Case.state).in_(CLOSED_STATES),
        col(Case.closed_at) < cutoff,
        col(Case.purged_at).is_(None),
    ]


def _census(session: Session, institution_id: int, cutoff: datetime, *, case_id: int | None = None) -> list[CasePurge]:
    """Every due case (or the one ``case_id``, if still due) and what purging it removes, oldest id first.

    Grouped counts over the due cases: a handful of queries whatever their number.
    """
    where = _due(institution_id, cutoff) + ([Case.id == case_id] if case_id is not None else [])
    ids = select(Case.id).where(*where)
    thread = dict(
        session.exec(
            select(ThreadEntry.case_id, func.count())
            .where(col(ThreadEntry.case_id).in_(ids))
            .group_by(ThreadEntry.case_id)
        ).all()
    )
    finished: dict[int, int] = {}
    waiting: dict[int, int] = {}
    for owner, state, n in session.exec(
        select(OutboxItem.case_id, OutboxItem.state, func.count())
        .where(col(OutboxItem.case_id).in_(ids))
        .group_by(OutboxItem.case_id, OutboxItem.state)
    ):
        tally = finished if state in FINISHED_OUTBOX else waiting
        tally[owner] = tally.get(owner, 0) + n
    set_aside = dict(
        session.exec(
            select(SetAsideRecord.complaint_id, func.count())
            .where(
                SetAsideRecord.institution_id == institution_id,
                col(SetAsideRecord.complaint_id).in_(select(Case.complaint_id).where(*where)),
            )
            .group_by(SetAsideRecord.complaint_id)
        ).all()
    )
    rows = session.exec(
        select(
            Case.id,
            Case.complaint_id,
            Case.tracking_id,
            Case.agency_code,
            Case.closed_at,
            Case.reporter_name,
            Case.reporter_email,
            Case.reporter_phone,
            Case.location_name,
        )
        .where(*where)
        .order_by(col(Case.id))
    )
    return [
        CasePurge(
            id_,
            complaint,
            tracking,
            agency,
            closed,
            any(v is not None for v in (name, email, phone)),
            place is not None,
            thread.get(id_, 0),
            finished.get(id_, 0),
            set_aside.get(complaint, 0),
            waiting.get(id_, 0),
        )
        for id_, complaint, tracking, agency, closed, name, email, phone, place in rows
    ]


def _closing(result: PurgeResult, requested_by: str) -> str:
    """The run's closing event: who asked, the cutoff, and what was removed in total."""
    skipped = (
        f"; {_count(len(result.skipped), 'case', 'cases')} skipped (outbox rows still waiting)"
        if result.skipped
        else ""
    )
    return (
        f"Purge by {requested_by} of cases closed before {display_wib(result.cutoff)} (more than "
        f"{result.older_than_days} days): {_count(len(result.purged), 'case', 'cases')} purged{skipped}. "
        f"Removed {_in_words(result.removed()) or 'nothing'}."
    )


def _in_words(removed: dict[str, int]) -> str:
    """``1 reporter identity, 2 thread entries' texts``: the kinds removed, counts only, never a value."""
    return ", ".join(_count(n, *REMOVED_KINDS[kind]) for kind, n in removed.items() if n)


def _count(n: int, one: str, many: str) -> str:
    """``1 thread entry``, ``3 thread entries``."""
    return f"{n} {one if n == 1 else many}"
