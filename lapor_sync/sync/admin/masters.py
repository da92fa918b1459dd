"""``lapor-sync masters pull``: the platform's institutions and reply templates into the database (CONTRACT §7 G8).

Each list is read whole (every page) before anything is written, then stored in one transaction
of its own: rows added, changed, back or gone (:func:`lapor_sync.domain.masters.compare`), each
row's last-seen instant, and one audited sync event when anything changed or was set aside. Per
list rather than both in one transaction, because the two are independent facts and a deployment may serve one but not the
other (LAPOR! builds endpoints per integrator, G7; a gateway key may be refused on one resource
only, G2 900908): a failing template list must not keep a renamed institution from being seen.
What was stored is never wiped: a failed read changes nothing, an empty answer while rows are
stored is refused, and a row no longer listed is marked gone, not deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, and_, bindparam, insert, inspect, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import (
    LaporSyncError,
    MalformedRecordError,
    NationalPlatformError,
    QuotaExceededError,
    RunStoppingError,
)
from lapor_sync.domain.masters import (
    ChangeKind,
    EmptyListRefused,
    Known,
    MasterChange,
    MasterInstitution,
    MasterList,
    ReplyTemplate,
    UnreadableRow,
    compare,
)
from lapor_sync.domain.runs import Level
from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import MasterInstitutionRecord, ReplyTemplateRecord
from lapor_sync.sync.journal import add_event

EVENT_KIND = "masters.pulled"
"""The kind of the sync event a list stored with changes, or refused, leaves (``lapor-sync log --kind masters.pulled``)."""


class MasterDataSource(Protocol):
    """Where the master lists come from: the national client (``LaporClient``), or a fake in tests."""

    def list_master_institutions(self) -> MasterList[MasterInstitution]:
        """Every institution the platform lists."""
        ...

    def list_reply_templates(self) -> MasterList[ReplyTemplate]:
        """Every reply template the platform lists."""
        ...


class ListName(StrEnum):
    """The master lists, in the order they are pulled."""

    INSTITUTIONS = "institutions"
    TEMPLATES = "templates"


class PullStatus(StrEnum):
    """What became of one list.

    ``stored``: read and stored (its changes, if any, are in the database); ``refused_empty``: the
    platform listed nothing while rows are stored, nothing changed; ``failed``: the read failed,
    nothing changed; ``skipped``: not read, the list before it was refused in a way that would
    refuse this one too (credentials).
    """

    STORED = "stored"
    REFUSED_EMPTY = "refused_empty"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class ListPull:
    """The outcome of one list: its status, how many rows the platform listed, what changed, what was set aside."""

    name: ListName
    status: PullStatus
    listed: int = 0
    changes: list[MasterChange] = field(default_factory=list)
    unreadable: list[UnreadableRow] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the list was stored."""
        return self.status is PullStatus.STORED


@dataclass(frozen=True)
class _Kind:
    """How one master list is read, keyed, stored and shown."""

    name: ListName
    label: str
    model: type[Any]
    key_column: str
    read: Callable[[MasterDataSource], MasterList[Any]]
    from_record: Callable[[Any], Any]
    values: Callable[[Any], dict[str, Any]]
    key_value: Callable[[str], Any]

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[no-any-return]


_KINDS = (
    _Kind(
        ListName.INSTITUTIONS,
        "master institutions",
        MasterInstitutionRecord,
        "national_id",
        lambda source: source.list_master_institutions(),
        lambda record: MasterInstitution(record.national_id, record.name),
        lambda row: {"name": row.name},
        int,
    ),
    _Kind(
        ListName.TEMPLATES,
        "reply templates",
        ReplyTemplateRecord,
        "code",
        lambda source: source.list_reply_templates(),
        lambda record: ReplyTemplate(record.code, record.name, record.content, record.national_id),
        lambda row: {"name": row.name, "content": row.content, "national_id": row.national_id},
        str,
    ),
)


def pull_masters(
    db: Database, source: MasterDataSource, clock: Clock, *, institution_id: int, requested_by: str
) -> list[ListPull]:
    """Read both master lists from ``source`` and store each that was read (see the module's docstring).

    Args:
        db: the migrated database.
        source: the national client.
        clock: "now" for the stored instants (aware UTC).
        institution_id: the deployment's national institution; the rows are kept under it.
        requested_by: who asked (the OS user), named in the sync events.

    Returns:
        One :class:`ListPull` per list, institutions first. A read that failed is ``failed`` with
        its error (masked), and so is a list another pull at the same time stored first (two
        inserts of one new row: the unique key refuses the second, whose transaction rolls back);
        after a ``RunStoppingError`` (refused credentials, a gateway refusal,
        a pagination loop) or a ``QuotaExceededError`` (throttled again after the quota window,
        CONTRACT §7 G3) the next list is ``skipped``: its request would be refused alike and
        would only spend quota.
    """
    outcomes: list[ListPull] = []
    stopped: str | None = None
    for kind in _KINDS:
        if stopped is not None:
            outcomes.append(ListPull(kind.name, PullStatus.SKIPPED, error=f"not read: {stopped}"))
            continue
        try:
            fresh = kind.read(source)
        except (NationalPlatformError, MalformedRecordError) as exc:
            error = redact(str(exc))
            stopped = error if isinstance(exc, RunStoppingError | QuotaExceededError) else None
            outcomes.append(ListPull(kind.name, PullStatus.FAILED, error=error))
            continue
        try:
            outcomes.append(_store(db, kind, fresh, clock.now(), institution_id, requested_by))
        except IntegrityError:  # its transaction rolled back: nothing of this list was written
            race = "another masters pull stored this list at the same time; nothing was changed here, run it again"
            outcomes.append(ListPull(kind.name, PullStatus.FAILED, listed=len(fresh.rows), error=race))
    return outcomes


def _store(
    db: Database, kind: _Kind, fresh: MasterList[Any], now: datetime, institution_id: int, requested_by: str
) -> ListPull:
    """Compare ``fresh`` with the stored rows and write the difference in one transaction."""
    model = kind.model
    outcome = ListPull(kind.name, PullStatus.STORED, listed=len(fresh.rows), unreadable=list(fresh.unreadable))
    with db.session() as session:
        records = session.exec(select(model).where(model.institution_id == institution_id)).all()
        known = {str(getattr(r, kind.key_column)): Known(kind.from_record(r), r.gone_at is not None) for r in records}
        try:
            outcome.changes = compare(known, fresh)
        except EmptyListRefused:
            outcome.status = PullStatus.REFUSED_EMPTY
            stored = sum(not k.gone for k in known.values())
            outcome.error = (
                f"the platform listed no readable {kind.label} while {stored} are stored; "
                "taken for a fault, nothing was changed"
            )
            add_event(
                session, now, EVENT_KIND, f"{kind.label}: {outcome.error} (by {requested_by})", level=Level.WARNING
            )
            session.commit()
            return outcome
        _write(session, kind, institution_id, fresh, outcome.changes, now)
        if outcome.changes or fresh.unreadable:
            add_event(
                session, now, EVENT_KIND, _event_message(kind.label, outcome, requested_by), level=_level(outcome)
            )
        session.commit()
    return outcome


def _write(
    session: Session,
    kind: _Kind,
    institution_id: int,
    fresh: MasterList[Any],
    changes: Iterable[MasterChange],
    now: datetime,
) -> None:
    """Insert the added rows, update the changed and the back ones, mark the gone ones; date every listed row seen."""
    table, key = kind.table, kind.key_column
    rows = {row.key: row for row in fresh.rows}
    by_kind: dict[ChangeKind, list[str]] = {k: [] for k in ChangeKind}
    for change in changes:
        by_kind[change.kind].append(change.key)
    owner, this_key = table.c.institution_id == bindparam("owner"), table.c[key] == bindparam("key")
    connection = session.connection()
    if added := by_kind[ChangeKind.ADDED]:
        stamps = {"first_seen_at": now, "last_seen_at": now, "updated_at": now, "gone_at": None}
        connection.execute(
            insert(table),
            [
                {"institution_id": institution_id, key: kind.key_value(k), **kind.values(rows[k]), **stamps}
                for k in added
            ],
        )
    if changed := by_kind[ChangeKind.CHANGED] + by_kind[ChangeKind.BACK]:
        # Parameters named apart from their columns: SQLAlchemy keeps a column's own name for itself.
        values = {name: bindparam(f"new_{name}") for name in kind.values(rows[changed[0]])}
        connection.execute(
            update(table).where(and_(owner, this_key)).values(**values, updated_at=now, last_seen_at=now, gone_at=None),
            [
                {"owner": institution_id, "key": kind.key_value(k)}
                | {f"new_{name}": value for name, value in kind.values(rows[k]).items()}
                for k in changed
            ],
        )
    if gone := by_kind[ChangeKind.GONE]:
        connection.execute(
            update(table).where(and_(owner, this_key)).values(gone_at=now),
            [{"owner": institution_id, "key": kind.key_value(k)} for k in gone],
        )
    touched = set(added) | set(changed)
    if seen := [k for k in rows if k not in touched]:
        connection.execute(
            update(table).where(and_(owner, this_key)).values(last_seen_at=now),
            [{"owner": institution_id, "key": kind.key_value(k)} for k in seen],
        )


def _event_message(label: str, outcome: ListPull, requested_by: str) -> str:
    """One line for the log: how many rows of each kind changed, and how many were set aside."""
    counts = {k: sum(change.kind is k for change in outcome.changes) for k in ChangeKind}
    parts = [f"{count} {k.value}" for k, count in counts.items() if count]
    if outcome.unreadable:
        parts.append(f"{len(outcome.unreadable)} set aside as unreadable")
    return f"{label}: {', '.join(parts)} of {outcome.listed} listed (pulled by {requested_by})"


def _level(outcome: ListPull) -> Level:
    gone = any(change.kind is ChangeKind.GONE for change in outcome.changes)
    return Level.WARNING if gone or outcome.unreadable else Level.INFO


# --- what the rest of the product reads ---------------------------------------------------------


def stored_institutions(session: Session, institution_id: int) -> dict[int, MasterInstitutionRecord]:
    """The master institutions stored for ``institution_id``, gone ones included, by national id."""
    query = select(MasterInstitutionRecord).where(MasterInstitutionRecord.institution_id == institution_id)
    return {record.national_id: record for record in session.exec(query)}


def stored_templates(session: Session, institution_id: int) -> list[ReplyTemplateRecord]:
    """The reply templates stored for ``institution_id``, gone ones included, by code."""
    query = select(ReplyTemplateRecord).where(ReplyTemplateRecord.institution_id == institution_id)
    return list(session.exec(query.order_by(col(ReplyTemplateRecord.code))))


def tables_exist(bind: Engine | Connection) -> bool:
    """Whether the database has the master tables: one not upgraded since migration 0007 has none (and no rows)."""
    names = inspect(bind).get_table_names()
    return all(model.__tablename__ in names for model in (MasterInstitutionRecord, ReplyTemplateRecord))


def listed_institutions(db: Database, institution_id: int) -> dict[int, datetime | None] | None:
    """The stored master institutions as national id -> gone instant (``None`` while listed).

    ``None`` when there is nothing to compare with: no such table yet (a database not upgraded
    since) or no row stored (no ``masters pull`` yet). Reads only.
    """
    if not tables_exist(db.engine):
        return None
    with db.session() as session:
        stored = stored_institutions(session, institution_id)
    return {national_id: record.gone_at for national_id, record in stored.items()} or None


def find_template(session: Session, institution_id: int, code: str) -> ReplyTemplateRecord | None:
    """The stored reply template with ``code`` (exactly as the platform spells it), gone or not, or ``None``."""
    return session.get(ReplyTemplateRecord, (institution_id, code))


class TemplateRefused(LaporSyncError):
    """A reply template cannot start a follow-up: unknown, withdrawn, or with placeholders; the message says why."""


_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
SEE_CODES = "see the codes with `lapor-sync masters list templates` (refresh them with `lapor-sync masters pull`)"


def followup_text(session: Session, institution_id: int, code: str, own_text: str | None) -> str:
    """The text of a follow-up started from reply template ``code``: its content, then ``own_text`` after a blank line.

    Raises:
        TemplateRefused: no template ``code`` is stored, LAPOR! no longer lists it (gone), or its
            content holds ``{{...}}`` placeholders, which lapor-sync does not fill (the reporter would
            read them as they are).
    """
    template = find_template(session, institution_id, code) if tables_exist(session.connection()) else None
    if template is None:
        raise TemplateRefused(f"no reply template {code!r} is stored; {SEE_CODES}")
    if template.gone_at is not None:
        raise TemplateRefused(f"reply template {code!r} is no longer listed by LAPOR!; {SEE_CODES}")
    if found := _PLACEHOLDER.findall(template.content):
        raise TemplateRefused(
            f"reply template {code!r} has placeholders lapor-sync does not fill ({', '.join(sorted(set(found)))}); "
            "write the follow-up with --text instead"
        )
    return template.content.strip() + (f"\n\n{own_text}" if own_text else "")
