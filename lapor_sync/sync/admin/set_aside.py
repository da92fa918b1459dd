"""What an admin does with set-aside records: read them again from LAPOR!, and keep a stored one with an agency.

A set-aside record is a complaint LAPOR! gave that could not be read or stored: it holds the
complaint id, the reason and the raw payload (reporter removed), but no case. It becomes a case
only by being read again in full (a resync run of :func:`set_aside_selection`); the record is then
resolved. Only then can an agency be assigned (:func:`assign_agency`): the same sticky, audited
override as ``lapor-sync case reassign`` (:class:`~lapor_sync.sync.admin.reassign.Reassigner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case, SetAsideRecord
from lapor_sync.sync.admin.reassign import Reassigner, Reassignment
from lapor_sync.sync.admin.selection import Selection


class SetAsideRefused(LaporSyncError):
    """The set-aside record does not exist here, cannot be read again, or has no case yet; the message says why."""


def set_aside_selection(db: Database, institution_id: int, set_aside_ids: Sequence[int]) -> Selection:
    """The resync selection that re-reads the complaints of the given set-aside records.

    Run it as any resync (:func:`~lapor_sync.sync.admin.resync.resync_from_settings`): a complaint
    read in full is stored as a case and its record resolved; one whose read fails again for
    reasons of its own stays set aside (its change says why).

    Args:
        db: the city's database.
        institution_id: the city's national institution id.
        set_aside_ids: the records (ids of ``set_aside``), unresolved or not.

    Returns:
        The complaint ids of the records, in the order given, once each.

    Raises:
        SetAsideRefused: an id names no record of this institution, or a record without a complaint
            id (LAPOR! is read by complaint id).
    """
    with db.session() as session:
        return Selection(
            complaint_ids=tuple(
                _complaint_id(_record(session, institution_id, i)) for i in dict.fromkeys(set_aside_ids)
            )
        )


def assign_agency(
    reassigner: Reassigner, set_aside_id: int, agency_code: str, *, actor: str, reason: str, now: datetime
) -> Reassignment:
    """Keep the case of a set-aside record's complaint with ``agency_code`` (:meth:`Reassigner.reassign`).

    Args:
        reassigner: the reassigner (database, leases, mapping).
        set_aside_id: the record.
        agency_code: an agency of the mapping.
        actor: who asked, named on the override and in its ``case.reassigned`` event.
        reason: why (required).
        now: the current instant (aware UTC).

    Returns:
        What the reassign did.

    Raises:
        SetAsideRefused: no such record, no complaint id, or the complaint has no case yet: it must
            be read again first (:func:`set_aside_selection`).
        ReassignRefused: an agency the mapping lacks, or no reason.
        LeaseBusy: as :meth:`Reassigner.reassign`.
    """
    institution_id = reassigner.mapping.institution.id
    with reassigner.db.session() as session:
        complaint_id = _complaint_id(_record(session, institution_id, set_aside_id))
        case_id = session.exec(
            select(Case.id).where(Case.institution_id == institution_id, Case.complaint_id == complaint_id)
        ).first()
    if case_id is None:
        raise SetAsideRefused(
            f"complaint {complaint_id} of set-aside record {set_aside_id} has no case yet: "
            "resync it first, then assign its agency"
        )
    return reassigner.reassign(case_id, agency_code, reason=reason, requested_by=actor, now=now)


def _record(session: Session, institution_id: int, set_aside_id: int) -> SetAsideRecord:
    record = session.get(SetAsideRecord, set_aside_id)
    if record is None or record.institution_id != institution_id:
        raise SetAsideRefused(f"no set-aside record {set_aside_id}; see `lapor-sync set-aside --all`")
    return record


def _complaint_id(record: SetAsideRecord) -> int:
    if record.complaint_id is None:
        raise SetAsideRefused(f"set-aside record {record.id} has no complaint id: LAPOR! cannot be asked for it again")
    return record.complaint_id
