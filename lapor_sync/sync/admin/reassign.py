"""Reassign one case to an agency by hand, and have it stick: an override every pull and resync respects.

The mapping routes by category and disposition; an admin who knows better for one complaint sets
an override (``lapor-sync case reassign``, or the web console calling :func:`reassign`). The case
moves at once, and :meth:`~lapor_sync.domain.routing.CityMapping.route` keeps it there on every
later read, whatever the mapping says, until :func:`clear_override` returns it to the mapping's
routing, computed from what the case stores (no request to LAPOR!). Each change is a sync event
naming who, and why.

Both hold the ``pull`` lease while they write: a pull reads a page's overrides, then stores the
page, so an override set between the two would be overwritten by the mapping's agency and, the
complaint being stored as unchanged afterwards, never restored. Under the lease no pull or resync
is between those two steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.routing import AgencyOverride, CityMapping, Routing
from lapor_sync.domain.runs import Job
from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases
from lapor_sync.storage.lease_handles import LeaseHandle
from lapor_sync.storage.models import Case, CaseOverride
from lapor_sync.sync.journal import add_event
from lapor_sync.sync.service import sync_agencies

SET_BY_LENGTH = 64  # case_override.set_by


class ReassignRefused(LaporSyncError):
    """The case, the agency or the reason is not acceptable; the message says why in one line."""


@dataclass(frozen=True)
class Reassignment:
    """What a reassign or a clear did to one case.

    Attributes:
        case_id: the city's case.
        tracking_id: its national tracking id (without ``#``).
        previous_agency: the agency it was with before.
        routing: where it is now, and why (rule ``override`` while an override holds).
        override: the override now in force, or ``None`` after a clear.
    """

    case_id: int
    tracking_id: str
    previous_agency: str
    routing: Routing
    override: AgencyOverride | None


def find_override(session: Session, case_id: int) -> AgencyOverride | None:
    """Return the override of case ``case_id``, or ``None`` when the mapping routes it."""
    row = session.get(CaseOverride, case_id)
    return None if row is None else AgencyOverride(row.agency_code, row.set_by, row.set_at, row.reason)


@dataclass(frozen=True)
class Reassigner:
    """Sets and clears overrides of one institution's cases (see the module).

    Args:
        db: the city's database.
        leases: the job leases; the ``pull`` lease is held while an override changes.
        mapping: the city's mapping (its agencies, its routing, its institution).
        lease_wait_seconds: how long to wait for the ``pull`` lease, seconds.
    """

    db: Database
    leases: Leases
    mapping: CityMapping
    lease_wait_seconds: float = 0

    def reassign(
        self, case_id: int, agency_code: str, *, reason: str, requested_by: str, now: datetime
    ) -> Reassignment:
        """Keep case ``case_id`` with ``agency_code`` from now on; a ``case.reassigned`` event names who and why.

        An override already set is replaced. ``reason`` is kept masked of personal data.

        Args:
            case_id: the city's case.
            agency_code: an agency of the mapping (case and surrounding space ignored).
            reason: why, typed by the admin (required).
            requested_by: who (the OS user, or the console's user).
            now: the current instant (aware UTC).

        Raises:
            ReassignRefused: no such case, an agency the mapping lacks, or no reason.
            LeaseBusy: a pull or resync still holds the ``pull`` lease after ``lease_wait_seconds``.
        """
        override = self._override(agency_code, reason=reason, requested_by=requested_by, now=now)
        with self._held(), self.db.session() as session:
            return self._keep(session, case_id, override)

    def reassign_many(
        self, case_ids: Sequence[int], agency_code: str, *, reason: str, requested_by: str, now: datetime
    ) -> list[Reassignment | ReassignRefused]:
        """Keep each of ``case_ids`` with ``agency_code`` as :meth:`reassign` does one, each in its own transaction.

        The agency and the reason are checked once, and the ``pull`` lease is taken once for them
        all: a busy lease refuses the whole list after one wait, not one wait per case.

        Returns:
            Per case, in the order given: what the reassign did, or why that case was refused (no such case).

        Raises:
            ReassignRefused: an agency the mapping lacks, or no reason; nothing was changed.
            LeaseBusy: as :meth:`reassign`; nothing was changed.
        """
        override = self._override(agency_code, reason=reason, requested_by=requested_by, now=now)
        done: list[Reassignment | ReassignRefused] = []
        with self._held():
            for case_id in case_ids:
                with self.db.session() as session:
                    try:
                        done.append(self._keep(session, case_id, override))
                    except ReassignRefused as refused:
                        done.append(refused)
        return done

    def _override(self, agency_code: str, *, reason: str, requested_by: str, now: datetime) -> AgencyOverride:
        """The override to set, its agency and reason checked (see :meth:`reassign`)."""
        agency = self.mapping.agency(agency_code)
        if agency is None:
            known = ", ".join(a.code for a in self.mapping.agencies)
            raise ReassignRefused(
                f"--agency: no agency '{agency_code.strip()}' in the mapping file (known: {known}; "
                "they are the [[agency]] codes of the file `lapor-sync mapping check` names)"
            )
        return AgencyOverride(agency.code, requested_by[:SET_BY_LENGTH], now, _reason(reason))

    def _keep(self, session: Session, case_id: int, override: AgencyOverride) -> Reassignment:
        """Set ``override`` on case ``case_id``, move it and log it, then commit (the ``pull`` lease held)."""
        sync_agencies(session, self.mapping)  # the override's agency row must exist
        case = self._case(session, case_id)
        row = session.get(CaseOverride, case_id) or CaseOverride(case_id=case_id)
        for name in ("agency_code", "set_by", "set_at", "reason"):
            setattr(row, name, getattr(override, name))
        session.add(row)
        done = self._move(session, case, override)
        moved = f"from {done.previous_agency} to" if done.previous_agency != override.agency_code else "and kept with"
        self._event(
            session,
            case,
            override.set_at,
            "case.reassigned",
            f"Case #{case.tracking_id} reassigned {moved} {override.agency_code} by {override.set_by}: "
            f"{override.reason}. Pulls and resyncs keep it there until `lapor-sync case reassign --clear`.",
        )
        session.commit()
        return done

    def clear(self, case_id: int, *, reason: str, requested_by: str, now: datetime) -> Reassignment:
        """Remove the override of case ``case_id``: it goes where the mapping routes it now, at once.

        The route is computed from the disposition and category the case stores (no request to
        LAPOR!); a ``case.reassign_cleared`` event names who, why and where the case went.

        Raises:
            ReassignRefused: no such case, the case has no override, or no reason.
            LeaseBusy: as :meth:`reassign`.
        """
        why = _reason(reason)
        with self._held(), self.db.session() as session:
            sync_agencies(session, self.mapping)
            case = self._case(session, case_id)
            row = session.get(CaseOverride, case_id)
            if row is None:
                raise ReassignRefused(f"case #{case.tracking_id} has no override to clear; the mapping routes it")
            session.delete(row)
            done = self._move(session, case, None)
            self._event(
                session,
                case,
                now,
                "case.reassign_cleared",
                f"Override of case #{case.tracking_id} (to {row.agency_code}, set by {row.set_by}) cleared by "
                f"{requested_by[:SET_BY_LENGTH]}: {why}. Back to the mapping's routing, at "
                f"{done.routing.agency_code}: {done.routing.reason}",
            )
            session.commit()
            return done

    def _held(self) -> AbstractContextManager[LeaseHandle]:
        """The ``pull`` lease, held while an override changes (see the module)."""
        return self.leases.hold(
            Job.PULL, institution_id=self.mapping.institution.id, wait_seconds=self.lease_wait_seconds
        )

    def _case(self, session: Session, case_id: int) -> Case:
        case = session.get(Case, case_id)
        if case is None or case.institution_id != self.mapping.institution.id:
            raise ReassignRefused(f"no case {case_id}; see `lapor-sync case list`")
        return case

    def _move(self, session: Session, case: Case, override: AgencyOverride | None) -> Reassignment:
        """Route ``case`` as a pull would now (with ``override``) and store its agency and rule."""
        routing = self.mapping.route(case.disposition_id, case.category_id, case.category_name, override)
        previous = case.agency_code
        case.agency_code, case.routing_rule = routing.agency_code, routing.rule
        session.add(case)
        assert case.id is not None  # a stored case
        return Reassignment(case.id, case.tracking_id, previous, routing, override)

    @staticmethod
    def _event(session: Session, case: Case, now: datetime, kind: str, message: str) -> None:
        """An admin's action is no sync run: its event has no run id."""
        add_event(
            session,
            now,
            kind,
            message,
            complaint_id=case.complaint_id,
            tracking_id=case.tracking_id,
            agency_code=case.agency_code,
        )


def _reason(reason: str) -> str:
    """The reason as kept: stripped, personal data masked (typed by hand: a phone number must not be kept).

    Raises:
        ReassignRefused: it is empty.
    """
    kept = redact(reason.strip())
    if not kept:
        raise ReassignRefused("give the reason (--reason); it is kept with the override and in the log")
    return kept
