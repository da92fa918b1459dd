"""One case as staff read it: fields, override, reporter, thread, outbox rows, SLA clock, routing and sync events.

Privacy is decided here, once, for every reader (``case show``, the console, its JSON API): the
reporter's identity only when asked and never for an anonymous complaint; the title, content and
thread texts of a confidential (rahasia) complaint, or of a confidential thread entry, only when
asked. Callers decide who may ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.reference import strip_reference
from lapor_sync.domain.routing import AgencyOverride, CityMapping
from lapor_sync.domain.sla import SlaCase, SlaPolicy, SlaResult, ThreadMark
from lapor_sync.domain.status import CaseState
from lapor_sync.queries.events import EventFilter, event_query
from lapor_sync.reports.routing import explain_routing
from lapor_sync.reports.sla import sla_policy
from lapor_sync.storage.models import Case, OutboxItem, SyncEvent, ThreadEntry
from lapor_sync.sync.admin.reassign import find_override

if TYPE_CHECKING:
    from lapor_sync.app import App

EVENTS_SHOWN = 200  # a case page's sync history: the newest this many events

# The case's own fields, in the order ``case show`` prints them; the reporter is kept apart.
SHOWN_FIELDS = (
    "id",
    "complaint_id",
    "tracking_id",
    "agency_code",
    "agency_name",
    "routing_rule",
    "state",
    "national_status_code",
    "national_status_name",
    "disposition_id",
    "disposition_name",
    "classification_name",
    "category_id",
    "category_name",
    "channel_name",
    "location_name",
    "date_of_incident",
    "is_anonymous",
    "is_secret",
    "is_priority",
    "complaint_created_at",
    "dispositioned_at",
    "received_at",
    "closed_at",
    "purged_at",
    "content_length",
    "title",
    "content",
)


@dataclass(frozen=True)
class CaseDetail:
    """Everything shown about one case; instants aware UTC.

    Attributes:
        fields: :data:`SHOWN_FIELDS` by name; ``title`` and ``content`` ``None`` when not visible.
        override: the admin's override in force, or ``None``.
        reporter: ``{"name", "email", "phone"}`` when asked for and the complaint is not anonymous.
        thread: entries oldest first (``id``, ``origin``, ``author_type``, ``institution_id``,
            ``national_id``, ``is_secret``, ``created_at``, ``reference``: our token of a staff
            follow-up, ``content``: ``None`` when not visible, else without our reference token).
        outbox: the case's outbox rows, oldest first (no payload: a follow-up may be confidential).
        sla: the case's deadlines now, in working days (:class:`~lapor_sync.domain.sla.SlaPolicy`).
        sla_days_left: per deadline still owed (``followup``, ``auto_close``), the working days
            from today (WIB) to its due date; negative: overdue by that many.
        routing: the mapping explanation (:func:`~lapor_sync.reports.routing.explain_routing`).
        events: the complaint's sync events, newest first, at most :data:`EVENTS_SHOWN`.
    """

    fields: dict[str, Any]
    override: AgencyOverride | None
    reporter: dict[str, str | None] | None
    thread: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    sla: SlaResult
    sla_days_left: dict[str, int]
    routing: dict[str, Any]
    events: list[SyncEvent]


def case_detail(app: App, session: Session, case: Case, *, show_reporter: bool, show_confidential: bool) -> CaseDetail:
    """Gather one case's detail (see the module for what each flag reveals).

    Args:
        app: the application (its mapping, settings for the SLA policy, clock and institution).
        session: an open session on the city's database.
        case: a stored case of ``app``'s institution, from ``session``.
        show_reporter: include the reporter's name, e-mail and phone (never for an anonymous complaint).
        show_confidential: include the texts of a confidential complaint and of confidential entries.

    Returns:
        The detail; nothing of it is written back.
    """
    assert case.id is not None  # a stored case
    thread = app.city_records(session).thread(case.id)
    policy = sla_policy(app.settings)
    now = app.clock.now()
    sla = _sla(policy, case, thread, now)
    outbox = session.exec(select(OutboxItem).where(OutboxItem.case_id == case.id).order_by(col(OutboxItem.id))).all()
    reporter = (
        {"name": case.reporter_name, "email": case.reporter_email, "phone": case.reporter_phone}
        if show_reporter and not case.is_anonymous
        else None
    )
    override = find_override(session, case.id)
    return CaseDetail(
        fields=_fields(case, app.mapping, show_confidential or not case.is_secret),
        override=override,
        reporter=reporter,
        thread=[_entry(e, visible=show_confidential or not (case.is_secret or e.is_secret)) for e in thread],
        outbox=[_queued(o) for o in outbox],
        sla=sla,
        sla_days_left={
            d.kind.value: left
            for d in (sla.followup, sla.auto_close)
            if d is not None and (left := policy.working_days_left(d, now)) is not None
        },
        routing=explain_routing(
            app.mapping, case.disposition_id, case.category_id, case.category_name, case=case, override=override
        ),
        events=case_events(session, app.institution_id, case.tracking_id),
    )


def case_events(session: Session, institution_id: int, tracking_id: str) -> list[SyncEvent]:
    """The sync events of one complaint, newest first, at most :data:`EVENTS_SHOWN`.

    Runs of this institution and the admins' run-less events (requeue, cancel, reassign) count.
    Events never hold complaint content or reporters' personal data.
    """
    query = (
        event_query(institution_id, EventFilter(tracking_id=tracking_id))
        .order_by(col(SyncEvent.at).desc(), col(SyncEvent.id).desc())
        .limit(EVENTS_SHOWN)
    )
    return list(session.exec(query))


def _fields(case: Case, mapping: CityMapping, show_content: bool) -> dict[str, Any]:
    """The case's own fields: no reporter; title and content ``None`` unless shown."""
    agency = mapping.agency(case.agency_code)
    fields = {name: getattr(case, name, None) for name in SHOWN_FIELDS}
    fields["agency_name"] = agency.name if agency else None
    if not show_content:
        fields["title"] = fields["content"] = None
    return fields


def _entry(entry: ThreadEntry, *, visible: bool) -> dict[str, Any]:
    """One thread entry; content ``None`` unless ``visible``."""
    return {
        "id": entry.id,
        "origin": entry.origin,
        "author_type": entry.author_type,
        "institution_id": entry.institution_id,
        "national_id": entry.national_id,
        "is_secret": entry.is_secret,
        "created_at": entry.created_at,
        "reference": entry.reference,
        "content": strip_reference(entry.content) if visible else None,
    }


def _queued(item: OutboxItem) -> dict[str, Any]:
    """One outbox row of the case, without its payload."""
    return {
        "id": item.id,
        "kind": item.kind,
        "state": item.state,
        "attempts": item.attempts,
        "created_at": item.created_at,
        "delivered_at": item.delivered_at,
        "last_error": item.last_error,
    }


def _sla(policy: SlaPolicy, case: Case, thread: list[ThreadEntry], now: datetime) -> SlaResult:
    """The case's deadlines at ``now``, by the deployment's SLA policy (as ``lapor-sync sla``)."""
    marks = [ThreadMark(AuthorType(e.author_type), e.origin, e.created_at) for e in thread]
    return policy.evaluate(SlaCase(case.dispositioned_at, CaseState(case.state), marks), now)
