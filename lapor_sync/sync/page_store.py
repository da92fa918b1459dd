"""The pull's bookkeeping for one page of the inbox: bindings and set-aside records, read and written in bulk.

A page's bindings are read in one query and written in one statement each way (new ones inserted,
changed ones updated, executed many at once); the set-aside records its stored complaints resolve
are closed in one more. Plain Core statements on the unit's connection, no ORM object per row: the
pull stores thousands of complaints, and building and flushing an object for each cost more than
the requests (issue 12). The page's sync events go the same way, in one more. Nothing here commits; the pull's unit of work does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from lapor_sync.domain.routing import AgencyOverride
from lapor_sync.storage.models import Binding, CaseOverride, SetAsideRecord
from lapor_sync.sync.journal import insert_events

_BINDING = Binding.__table__
_OVERRIDE = CaseOverride.__table__
_SET_ASIDE = SetAsideRecord.__table__
_MARKS = ("national_updated_at", "content_hash", "last_checked_at", "last_seen_in_inbox_at")
"""The columns a pull moves forward on a binding it already has."""


@dataclass(frozen=True, slots=True)
class BindingState:
    """What is stored of one complaint's binding to its case (:class:`~lapor_sync.storage.models.Binding`).

    Attributes:
        complaint_id: the national complaint id.
        tracking_id: its tracking id.
        case_id: the city's case.
        national_updated_at: the newest national ``updated_at`` stored (aware UTC).
        content_hash: the fingerprint of the snapshot stored.
        last_checked_at: when lapor-sync last read the complaint (aware UTC, our clock).
        last_seen_in_inbox_at: when a pull last stored it from the inbox (aware UTC), if ever.
    """

    complaint_id: int
    tracking_id: str
    case_id: int
    national_updated_at: datetime
    content_hash: str
    last_checked_at: datetime
    last_seen_in_inbox_at: datetime | None = None


_FIELDS = tuple(field.name for field in fields(BindingState))


def load_bindings(
    connection: Connection, institution_id: int, complaint_ids: Collection[int]
) -> dict[int, BindingState]:
    """Read the bindings of ``complaint_ids`` in one query; complaints never stored have none.

    Args:
        connection: the unit of work's connection.
        institution_id: the institution whose bindings these are.
        complaint_ids: national complaint ids (a page: at most a few hundred).

    Returns:
        The bindings found, by complaint id.
    """
    if not complaint_ids:
        return {}
    columns = [_BINDING.c[name] for name in _FIELDS]
    query = select(*columns).where(
        _BINDING.c.institution_id == institution_id, _BINDING.c.complaint_id.in_(complaint_ids)
    )
    return {row.complaint_id: BindingState(*row) for row in connection.execute(query)}


def load_overrides(connection: Connection, case_ids: Collection[int]) -> dict[int, AgencyOverride]:
    """Read the admins' overrides (``lapor-sync case reassign``) of ``case_ids`` in one query, by case id."""
    if not case_ids:
        return {}
    query = select(
        _OVERRIDE.c.case_id, _OVERRIDE.c.agency_code, _OVERRIDE.c.set_by, _OVERRIDE.c.set_at, _OVERRIDE.c.reason
    )
    rows = connection.execute(query.where(_OVERRIDE.c.case_id.in_(case_ids)))
    return {row.case_id: AgencyOverride(*row[1:]) for row in rows}


def unresolved_set_aside(connection: Connection, institution_id: int, complaint_ids: Collection[int]) -> set[int]:
    """Return which of ``complaint_ids`` have a set-aside record not yet resolved (one query)."""
    if not complaint_ids:
        return set()
    query = select(_SET_ASIDE.c.complaint_id).where(
        _SET_ASIDE.c.institution_id == institution_id,
        _SET_ASIDE.c.complaint_id.in_(complaint_ids),
        _SET_ASIDE.c.resolved_at.is_(None),
    )
    return set(connection.execute(query).scalars())


class PageWrites:
    """The binding and set-aside changes of one page and its sync events, written by :meth:`execute` in four statements at most.

    The steps append the page's sync events to :attr:`events` (:meth:`RunJournal.event_into`), in
    page order; they are inserted last, in that order, with the changes they tell.

    Args:
        institution_id: the institution the page belongs to.
        unresolved: the page's complaints with a set-aside record still open (:func:`unresolved_set_aside`).
        now: when the page is stored (aware UTC): a resolved record's ``resolved_at``.
    """

    def __init__(self, institution_id: int, unresolved: set[int], now: datetime) -> None:
        self.institution_id = institution_id
        self.now = now
        self._unresolved = unresolved
        self._new: dict[int, BindingState] = {}
        self._changed: dict[int, BindingState] = {}
        self._resolved: set[int] = set()
        self.events: list[dict[str, Any]] = []

    def insert(self, binding: BindingState) -> None:
        """Insert the binding of a complaint stored for the first time."""
        self._new[binding.complaint_id] = binding

    def update(self, binding: BindingState) -> None:
        """Move forward the binding of a complaint stored before (its marks: :data:`_MARKS`)."""
        self._changed[binding.complaint_id] = binding

    def resolve(self, complaint_id: int) -> bool:
        """Close the set-aside records of a complaint now stored in full; return whether it had any open."""
        if complaint_id not in self._unresolved:
            return False
        self._resolved.add(complaint_id)
        return True

    def execute(self, connection: Connection) -> None:
        """Write what was noted, the events last: a binding inserted twice is refused by the unique index (``IntegrityError``)."""
        if self._new:
            rows = [{"institution_id": self.institution_id, **_columns(b)} for b in self._new.values()]
            connection.execute(insert(_BINDING), rows)
        if self._changed:
            connection.execute(_UPDATE_MARKS, [_keyed(self.institution_id, b) for b in self._changed.values()])
        if self._resolved:
            resolve = update(_SET_ASIDE).where(
                _SET_ASIDE.c.institution_id == self.institution_id,
                _SET_ASIDE.c.complaint_id.in_(self._resolved),
                _SET_ASIDE.c.resolved_at.is_(None),
            )
            connection.execute(resolve.values(resolved_at=self.now))
        insert_events(connection, self.events)


def _columns(binding: BindingState) -> dict[str, Any]:
    return {name: getattr(binding, name) for name in _FIELDS}


def _keyed(institution_id: int, binding: BindingState) -> dict[str, Any]:
    """The parameters of :data:`_UPDATE_MARKS` for one binding (names apart from the columns', as UPDATE needs)."""
    marks = {f"new_{name}": getattr(binding, name) for name in _MARKS}
    return {"key_institution_id": institution_id, "key_complaint_id": binding.complaint_id, **marks}


_UPDATE_MARKS = (
    update(_BINDING)
    .where(
        and_(
            _BINDING.c.institution_id == bindparam("key_institution_id"),
            _BINDING.c.complaint_id == bindparam("key_complaint_id"),
        )
    )
    .values({name: bindparam(f"new_{name}", type_=_BINDING.c[name].type) for name in _MARKS})
)
"""One UPDATE of a binding's marks by its unique key, executed many at once (``executemany``)."""
