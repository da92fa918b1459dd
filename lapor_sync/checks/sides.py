"""The two sides the invariant checker compares, read into plain records: the simulator's world and the city's database.

Each side is read in one go (the world under its lock, the database in one session), so a check
compares two consistent pictures. Only ids, codes, instants and reasons are kept: no content,
no reporter data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.reference import find_reference
from lapor_sync.simulator.catalog import institution_tree
from lapor_sync.simulator.world import World
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Binding, Case, OutboxItem, SetAsideRecord, ThreadEntry
from lapor_sync.sync.cursor import read_cursor


@dataclass(frozen=True, slots=True)
class NationalFollowUp:
    """One entry of a complaint's national thread.

    ``reference`` is lapor-sync's token (``LS-xxxxxxxxxx``) when the entry is an institution
    follow-up by the city's tree whose content starts with one, else ``None``.
    """

    national_id: int
    created_at: datetime
    reference: str | None


@dataclass(frozen=True, slots=True)
class NationalComplaint:
    """A complaint dispositioned to the city, as the national platform holds it now.

    Attributes:
        complaint_id: the v3 id.
        status_code: the current national status (CONTRACT §3).
        in_inbox: whether it is dispositioned to the city's tree now (so the inbox lists it).
        updated_at: aware UTC, whole seconds.
        request_waiting: a return or forward request awaits the national admin.
        followups: the thread, oldest first (``created_at``, then id).
    """

    complaint_id: int
    status_code: int
    in_inbox: bool
    updated_at: datetime
    request_waiting: bool
    followups: tuple[NationalFollowUp, ...]


@dataclass(frozen=True)
class CitySide:
    """The city's records and sync state for one institution, detached from their session."""

    cases: list[Case]
    bindings: list[Binding]
    thread: list[ThreadEntry]
    outbox: list[OutboxItem]
    set_aside: list[SetAsideRecord]
    cursor: datetime | None


def read_national(world: World, institution_id: int) -> dict[int, NationalComplaint]:
    """Return the complaints visible now whose first or current disposition is in the city's tree.

    Args:
        world: the simulated platform; due events are applied first, as any read does.
        institution_id: the city's national institution (its sub-units come with it).

    Returns:
        The complaints by complaint id.
    """
    tree = institution_tree(institution_id)
    with world.lock:
        complaints = world.all_complaints()
        now = world.clock.now().replace(microsecond=0)
        found = {}
        for c in complaints:
            if c.dispositioned_at > now or (c.first_disposition_id not in tree and c.disposition_id not in tree):
                continue
            thread = sorted(c.followups, key=lambda f: (f.created_at, f.id))
            found[c.complaint_id] = NationalComplaint(
                complaint_id=c.complaint_id,
                status_code=c.status_code,
                in_inbox=c.disposition_id in tree,
                updated_at=c.updated_at,
                request_waiting=c.pending_request is not None,
                followups=tuple(
                    NationalFollowUp(
                        f.id,
                        f.created_at,
                        find_reference(f.content)
                        if f.user_type == AuthorType.INSTITUTION and f.institution_from_id in tree
                        else None,
                    )
                    for f in thread
                ),
            )
    return found


def read_city(db: Database, institution_id: int) -> CitySide:
    """Read every case, binding, thread entry, outbox row and set-aside record of ``institution_id``."""
    with db.session() as session:
        thread = select(ThreadEntry).join(Case, Case.id == ThreadEntry.case_id)  # type: ignore[arg-type]
        return CitySide(
            cases=list(session.exec(select(Case).where(Case.institution_id == institution_id))),
            bindings=list(session.exec(select(Binding).where(Binding.institution_id == institution_id))),
            thread=list(session.exec(thread.where(Case.institution_id == institution_id))),
            outbox=list(
                session.exec(
                    select(OutboxItem).where(OutboxItem.institution_id == institution_id).order_by(OutboxItem.id)
                )
            ),
            set_aside=list(session.exec(select(SetAsideRecord).where(SetAsideRecord.institution_id == institution_id))),
            cursor=read_cursor(session, institution_id),
        )
