"""What the platform does by itself when the clock reaches a scheduled event.

Reporter replies, the admin's decision on a reject request, and auto-close (CONTRACT §3, §5).
Each event is applied with its own timestamp, and does nothing when it has been superseded.
"""

from __future__ import annotations

from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.catalog import NATIONAL_ADMIN_ID
from lapor_sync.simulator.model import Complaint, Event, EventKind, StatusLog
from lapor_sync.simulator.rules import plan_reporter_reply
from lapor_sync.simulator.store import DISPOSITION_LOG, Store

AUTO_CLOSE_NOTE = "Ditutup otomatis: 10 hari kerja tanpa tanggapan"
_FINAL = (NationalStatus.COMPLETED, NationalStatus.ARCHIVED, NationalStatus.REJECTED)


def apply_event(store: Store, event: Event, *, seed: int, reply_rate: float) -> None:
    """Apply one due event to its complaint.

    Args:
        store: the platform's tables.
        event: the event taken from the queue.
        seed: the world's seed, which decides reporter replies.
        reply_rate: the world's reply rate (see :func:`rules.plan_reporter_reply`).
    """
    complaint = store.get(event.complaint_id)
    if complaint is None:
        return
    match event.kind:
        case EventKind.REPORTER_REPLY:
            _reporter_reply(store, complaint, event, seed, reply_rate)
        case EventKind.ADMIN_DECISION:
            _admin_decision(store, complaint, event)
        case EventKind.AUTO_CLOSE:
            _auto_close(store, complaint, event)


def _reporter_reply(store: Store, c: Complaint, event: Event, seed: int, reply_rate: float) -> None:
    if c.status_code != NationalStatus.IN_PROCESS:
        return  # closed, archived or forwarded meanwhile: the reporter has nothing to answer
    plan = plan_reporter_reply(seed, c.complaint_id, event.ref, reply_rate)
    if plan is None:
        return  # the reply rate was lowered after the event was planned
    store.add_followup(
        c,
        user_type="pelapor",
        institution_from_id=None,
        content=plan.content,
        rating=plan.rating,
        is_secret=False,
        at=event.at,
    )
    store.touch(c, event.at)


def _auto_close(store: Store, c: Complaint, event: Event) -> None:
    # Only while the follow-up that started this timer is still the last word (CONTRACT §3).
    if c.status_code == NationalStatus.IN_PROCESS and c.followups and c.followups[-1].id == event.ref:
        store.change_status(c, NationalStatus.COMPLETED, AUTO_CLOSE_NOTE, NATIONAL_ADMIN_ID, event.at)
        store.touch(c, event.at)


def _admin_decision(store: Store, c: Complaint, event: Event) -> None:
    request = c.pending_request
    if request is None or request.id != event.ref:
        return  # replaced by a later request, which has its own event
    c.pending_request = None
    if c.status_code in _FINAL:
        return  # closed before the admin looked: nothing left to archive or forward
    if not request.not_authority:
        store.change_status(c, NationalStatus.ARCHIVED, request.description, NATIONAL_ADMIN_ID, event.at)
        store.touch(c, event.at)
        return
    # Forward (bukan wewenang): the complaint leaves the inbox with no tombstone (CONTRACT §5).
    target = request.target_institution_id
    store.log(c, DISPOSITION_LOG, c.disposition_id, target, event.at, old=c.status_code, new=NationalStatus.VERIFIED)
    if c.status_code != NationalStatus.VERIFIED:
        c.status_logs.append(StatusLog(NationalStatus.VERIFIED, request.description, event.at))
        c.status_code = NationalStatus.VERIFIED
    store.touch(c, event.at, disposition_id=target)
