"""The audit log: who did what to which complaint, when and from where; read by admins, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from lapor_sync.domain.clock import Clock
from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import AuditEntry as AuditRow

MAX_DETAIL = 500
"""The longest ``detail`` kept, in characters; a longer one is cut with an ellipsis."""
MAX_PAGE = 500
"""The most entries one :meth:`AuditLog.search` returns, whatever ``limit`` asks."""


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit log names them.

    Attributes:
        user: the console user's name, or the OS user for the CLI.
        role: the console role (``viewer``, ``operator``, ``admin``), or ``shell`` for the CLI.
        address: the client's address (after the trusted proxy's forwarded header), ``cli`` for
            the CLI, or None when unknown.
    """

    user: str
    role: str
    address: str | None


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log; ``at`` is aware UTC (show it in WIB)."""

    id: int
    at: datetime
    user: str
    role: str
    action: str
    address: str | None
    case_id: int | None
    tracking_id: str | None
    detail: str | None

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntry:
        """Build the entry from its stored row."""
        assert row.id is not None  # read from the database
        return cls(
            row.id, row.at, row.user_name, row.role, row.action, row.address, row.case_id, row.tracking_id, row.detail
        )


def _scrub(detail: str | None) -> str | None:
    """``detail`` with personal data masked (a safety net: callers must not put any in) and cut to size."""
    if detail is None:
        return None
    detail = redact(detail)
    return detail if len(detail) <= MAX_DETAIL else detail[: MAX_DETAIL - 1] + "…"


class AuditLog:
    """Records and searches the audit log (table ``audit_entry``).

    Args:
        db: the lapor-sync database.
        clock: where the entries' time comes from.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        *,
        user: str,
        role: str,
        action: str,
        address: str | None,
        case_id: int | None = None,
        tracking_id: str | None = None,
        detail: str | None = None,
        session: Session | None = None,
    ) -> None:
        """Add one entry, stamped with the clock's now (UTC).

        Args:
            user: who acted (console user name, or the OS user for the CLI).
            role: their role, or ``shell`` for the CLI.
            action: what they did, as ``noun.verb`` (``case.resync``, ``user.add``, ``case.open_secret``).
            address: where from (client address, ``cli``), or None.
            case_id: the case acted on, if any.
            tracking_id: its tracking id, if any.
            detail: a short note in words, e.g. "role viewer -> operator". It must never hold a
                secret, a password, a token, a reporter's personal data or a confidential
                complaint's content; personal data that slips in anyway is masked.
            session: the caller's session, so the entry commits (or rolls back) with the action it
                records; without one the entry is committed on its own.
        """
        row = AuditRow(
            at=self._clock.now(),
            user_name=user[:64],
            role=role[:16],
            action=action[:64],
            address=None if address is None else address[:64],
            case_id=case_id,
            tracking_id=tracking_id,
            detail=_scrub(detail),
        )
        if session is not None:
            session.add(row)
            return
        with self._db.session() as own:
            own.add(row)
            own.commit()

    def record_as(
        self, actor: Actor, action: str, *, detail: str | None = None, session: Session | None = None
    ) -> None:
        """Add one entry for ``actor`` (see :meth:`record`); for actions on no complaint."""
        self.record(
            user=actor.user, role=actor.role, action=action, address=actor.address, detail=detail, session=session
        )

    def search(
        self,
        *,
        user: str | None = None,
        action: str | None = None,
        tracking_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditEntry]:
        """Return entries matching every filter given, newest first, one keyset page.

        Args:
            user: exactly this user name.
            action: exactly this action.
            tracking_id: exactly this tracking id.
            since: entries at or after this instant (aware).
            until: entries before this instant (aware).
            before_id: the last id of the previous page; the page starts below it.
            limit: the page size, 1 to :data:`MAX_PAGE`.

        Returns:
            Up to ``limit`` entries, highest id first; the next page passes the last one's id.
        """
        query = select(AuditRow)
        for column, value in (
            (AuditRow.user_name, user),
            (AuditRow.action, action),
            (AuditRow.tracking_id, tracking_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(col(AuditRow.at) >= since)
        if until is not None:
            query = query.where(col(AuditRow.at) < until)
        if before_id is not None:
            query = query.where(col(AuditRow.id) < before_id)
        query = query.order_by(col(AuditRow.id).desc()).limit(max(1, min(limit, MAX_PAGE)))
        with self._db.session() as session:
            return [AuditEntry.of(row) for row in session.exec(query)]
