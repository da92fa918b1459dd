"""Sync events for a received complaint: what changed, told in words an IT officer understands.

Messages name the complaint by tracking id and the agency by name; they never quote the complaint's
content or the reporter (UU 27/2022), only what lapor-sync did and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lapor_sync.domain.complaint import ComplaintSnapshot
from lapor_sync.domain.ports import Received, ReceiveOutcome
from lapor_sync.domain.routing import Routing
from lapor_sync.domain.status import CaseState
from lapor_sync.sync.journal import Level, RunJournal


def record_receipt(
    events: list[dict[str, Any]],
    journal: RunJournal,
    snapshot: ComplaintSnapshot,
    received: Received,
    routing: Routing | None,
    state: CaseState | None,
    *,
    unknown_sub_unit: bool = False,
) -> None:
    """Add the sync events a receipt deserves to ``events``, rows written with the change they tell.

    Each event names the complaint and the agency its case is with now.

    Args:
        events: the page's batch of event rows (:meth:`RunJournal.event_into`), inserted in the
            transaction storing the receipt.
        journal: the run the events belong to.
        snapshot: the complaint as read from LAPOR!.
        received: what storing it did to the city's case.
        routing: the mapping's decision, or ``None`` for a complaint no longer the city's (kept with
            its agency).
        state: the case state its national status maps to, or ``None`` for a status code the mapping
            does not know.
        unknown_sub_unit: it came through the city's inbox, dispositioned to a sub-unit the mapping
            file does not know (it went to triage; the mapping needs the sub-unit).
    """
    complaint = snapshot.complaint
    for kind, level, message in _describe(snapshot, received, routing, state, unknown_sub_unit):
        journal.event_into(
            events,
            kind,
            message,
            level=level,
            complaint_id=complaint.complaint_id,
            tracking_id=complaint.tracking_id,
            agency_code=received.agency_code,
        )


def _describe(
    snapshot: ComplaintSnapshot,
    received: Received,
    routing: Routing | None,
    state: CaseState | None,
    unknown_sub_unit: bool,
) -> Iterator[tuple[str, Level, str]]:
    """Yield ``(kind, level, message)`` for each sync event a receipt deserves (see :func:`record_receipt`)."""
    complaint = snapshot.complaint
    ref = f"#{complaint.tracking_id}"
    agency = received.agency_code
    if received.outcome is ReceiveOutcome.CREATED:
        why = routing.reason.rstrip(".") if routing else "kept with its agency"
        yield "complaint.created", Level.INFO, f"Complaint {ref} received and assigned to {agency}: {why}."
    elif received.outcome is ReceiveOutcome.UPDATED:
        changes = _changes(received, complaint.status_name)
        if changes or not received.previous_agency_code:  # a re-route alone is told by complaint.moved
            yield (
                "complaint.updated",
                Level.INFO,
                f"Complaint {ref} updated from LAPOR!: {changes or 'complaint details changed'}.",
            )
    if received.purge_lifted:
        yield (
            "complaint.purge_lifted",
            Level.WARNING,
            f"Complaint {ref} was reopened on LAPOR! after its case had been purged: its content and "
            "reporter are stored again from LAPOR! for the agency to handle it; earlier thread entries "
            "stay purged.",
        )
    if received.previous_agency_code:
        why = routing.reason.rstrip(".") if routing else "the disposition changed"
        yield (
            "complaint.moved",
            Level.INFO,
            f"Complaint {ref} moved from {received.previous_agency_code} to {agency}: {why}.",
        )
    if routing is not None and routing.is_triage and received.outcome is ReceiveOutcome.CREATED:
        yield (
            "complaint.triage",
            Level.WARNING,
            f"Complaint {ref} matched no routing rule (category '{complaint.category_name}', "
            f"disposition {complaint.disposition_id}); sent to {agency} for triage.",
        )
    if state is None:
        yield (
            "status.unknown",
            Level.WARNING,
            f"Complaint {ref} has national status code {complaint.status_code} "
            f"('{complaint.status_name}'), unknown to the mapping: stored as received, state unchanged.",
        )
    if state is CaseState.FORWARDED and received.previous_state != CaseState.FORWARDED.value:
        yield (
            "complaint.left_inbox",
            Level.INFO,
            f"Complaint {ref} is now dispositioned to {complaint.disposition_name} "
            f"({complaint.disposition_id}) and left the city's inbox: case marked forwarded.",
        )
    if unknown_sub_unit:
        yield (
            "mapping.unknown_institution",
            Level.WARNING,
            f"Complaint {ref} is dispositioned to institution {complaint.disposition_id}, a sub-unit "
            "the mapping file does not know: add it to the mapping's agencies.",
        )


def _changes(received: Received, status_name: str) -> str:
    """Return the changes a receipt made, as a phrase (``"national status A → B; 2 new thread entries"``)."""
    parts = []
    if received.previous_status_name and received.previous_status_name != status_name:
        parts.append(f"national status {received.previous_status_name} → {status_name}")
    if received.previous_state and received.state and received.previous_state != received.state:
        parts.append(f"case state {received.previous_state} → {received.state}")
    if received.new_thread_entries:
        n = received.new_thread_entries
        parts.append(f"{n} new thread entr{'y' if n == 1 else 'ies'}")
    if received.confirmed_own_entries:
        n = received.confirmed_own_entries
        parts.append(f"{n} of our follow-up{'s' if n > 1 else ''} confirmed on LAPOR!")
    return "; ".join(parts)
