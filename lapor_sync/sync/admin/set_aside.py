"""What an admin does with set-aside records: read them again from LAPOR!, and keep a stored one with an agency.

A set-aside record is a complaint LAPOR! gave that could not be read or stored: it holds the
complaint id, the reason and the raw payload (reporter removed), but no case. It becomes a case
only by being read again in full (:func:`resync_set_aside`, a resync run); the record is then
resolved. Only then can an agency be assigned (:func:`assign_agency`): the same sticky, audited
override as ``lapor-sync case reassign`` (:class:`~lapor_sync.sync.admin.reassign.Reassigner`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel import Session, select

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.storage.models import Case, SetAsideRecord
from lapor_sync.sync.admin.reassign import Reassigner, Reassignment
from lapor_sync.sync.admin.resync import ResyncResult, run_resync
from lapor_sync.sync.admin.selection import Selection
from lapor_sync.sync.service import SyncService


class SetAsideRefused(LaporSyncError):
    """The set-aside record does not exist here, cannot be read again, or has no case yet; the message says why."""


def resync_set_aside(
    service: SyncService,
    set_aside_ids: Sequence[int],
    *,
    requested_by: str,
    lease_wait_seconds: float = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> ResyncResult:
    """Re-read the complaints of the given set-aside records from LAPOR!: one resync run (see :func:`run_resync`).

    A complaint read in full is stored as a case and its record resolved; one whose read fails
    again for reasons of its own stays set aside (its change says why).

    Args:
        service: the sync service (its database, mapping, platform and leases).
        set_aside_ids: the records (ids of ``set_aside``), unresolved or not.
        requested_by: who asked, named in the run's closing event.
        lease_wait_seconds: how long to wait for the ``pull`` lease, seconds.
        on_progress: called with (done, total) after each complaint.

    Returns:
        The resync's run (``run.id`` is the new run's id) and one change per complaint.

    Raises:
        SetAsideRefused: an id names no record of this institution, or a record without a complaint
            id (LAPOR! is read by complaint id); nothing was done.
        LeaseBusy: a pull still holds the ``pull`` lease after ``lease_wait_seconds``.
    """
    with service.db.session() as session:
        complaint_ids = tuple(
            _complaint_id(_record(session, service.mapping.institution.id, i)) for i in dict.fromkeys(set_aside_ids)
        )
    return run_resync(
        service,
        Selection(complaint_ids=complaint_ids),
        requested_by=requested_by,
        lease_wait_seconds=lease_wait_seconds,
        on_progress=on_progress,
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
            be read again first (:func:`resync_set_aside`).
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
