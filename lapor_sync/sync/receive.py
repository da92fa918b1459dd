"""Sync events for a received complaint: what changed, told in words an IT officer understands.

Messages name the complaint by tracking id and the agency by name; they never quote the complaint's
content or the reporter (UU 27/2022), only what lapor-sync did and why.
"""

from __future__ import annotations

from collections.abc import Iterator

from lapor_sync.domain.complaint import ComplaintSnapshot
from lapor_sync.domain.ports import Received, ReceiveOutcome
from lapor_sync.domain.routing import CityMapping, Routing
from lapor_sync.domain.status import CaseState
from lapor_sync.sync.journal import Level


def describe_receipt(snapshot: ComplaintSnapshot, received: Received, routing: Routing | None,
                     state: CaseState | None, mapping: CityMapping) -> Iterator[tuple[str, Level, str]]:
    """Yield ``(kind, level, message)`` for each sync event a receipt deserves."""
    complaint = snapshot.complaint
    ref = f"#{complaint.tracking_id}"
    agency = mapping.agency(received.agency_code).name
    if received.outcome is ReceiveOutcome.CREATED:
        why = routing.reason.rstrip(".") if routing else "kept with its agency"
        yield "complaint.created", Level.INFO, f"Complaint {ref} received and assigned to {agency}: {why}."
    elif received.outcome is ReceiveOutcome.UPDATED:
        parts = []
        if received.new_thread_entries:
            parts.append(f"{received.new_thread_entries} new thread entr{'y' if received.new_thread_entries == 1 else 'ies'}")
        if received.previous_state and received.state and received.previous_state != received.state:
            parts.append(f"state {received.previous_state} → {received.state}")
        detail = "; ".join(parts) or "complaint details changed"
        yield "complaint.updated", Level.INFO, f"Complaint {ref} updated from LAPOR!: {detail}."
    if received.previous_agency_code:
        old = mapping.agency(received.previous_agency_code).name
        yield "complaint.moved", Level.INFO, f"Complaint {ref} moved from {old} to {agency}: {routing.reason if routing else ''}"
    if routing is not None and routing.is_triage and received.outcome is ReceiveOutcome.CREATED:
        yield ("complaint.triage", Level.WARNING,
               f"Complaint {ref} matched no routing rule (category '{complaint.category_name}', "
               f"disposition {complaint.disposition_id}); sent to {agency} for triage.")
    if state is None:
        yield ("status.unknown", Level.WARNING,
               f"Complaint {ref} has national status code {complaint.status_code} "
               f"('{complaint.status_name}'), unknown to the mapping: stored as received, state unchanged.")
    if state is CaseState.FORWARDED and received.previous_state != CaseState.FORWARDED.value:
        yield ("complaint.left_inbox", Level.INFO,
               f"Complaint {ref} is now dispositioned to {complaint.disposition_name} "
               f"({complaint.disposition_id}) and left the city's inbox: case marked forwarded.")
