"""Per-user API tokens for ``/api/v1``: issued once, kept only as a SHA-256, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from lapor_sync.accounts.audit import Actor, AuditLog
from lapor_sync.accounts.users import AccountRefused, ConsoleUser, existing_row
from lapor_sync.domain.clock import Clock
from lapor_sync.reports.reasons import Reason
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import ApiTokenRecord, ConsoleUserRecord

PREFIX_LENGTH = 8
"""Characters of a token kept in clear: enough to find its row and to tell tokens apart in a list."""
USE_GRANULARITY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often, not on every API request."""


@dataclass(frozen=True)
class TokenInfo:
    """One API token as listed: never the token, only its first characters. Datetimes aware UTC."""

    id: int
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _info(record: ApiTokenRecord) -> TokenInfo:
    return TokenInfo(
        record.id or 0, record.label, record.prefix, record.created_at, record.last_used_at, record.revoked_at
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokens:
    """Issues, checks, lists and revokes API tokens (table ``api_token``).

    A token is ``secrets.token_urlsafe(32)`` (256 random bits); a SHA-256 is enough to keep it,
    unlike a password, because nobody can guess a 256-bit value from its hash.

    Args:
        db: the lapor-sync database.
        clock: where "now" comes from.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._audit = AuditLog(db, clock)

    def issue_token(self, name: str, *, label: str, actor: Actor | None = None) -> str:
        """Make a new token for the user ``name`` and return it; it cannot be shown again.

        Args:
            name: the user it acts as (with their role, while they are enabled).
            label: what it is for, e.g. "dashboard dinas kominfo" (at most 64 characters).
            actor: who issues it, for the audit log.

        Returns:
            The token, to give to the script or dashboard that uses it.

        Raises:
            AccountRefused: no such user.
        """
        token = secrets.token_urlsafe(32)
        label = label.strip()[:64]
        with self._db.session() as session:
            user = existing_row(session, name)
            assert user.id is not None  # read from the database
            session.add(
                ApiTokenRecord(
                    user_id=user.id,
                    label=label,
                    prefix=token[:PREFIX_LENGTH],
                    token_hash=_digest(token),
                    created_at=self._clock.now(),
                )
            )
            if actor is not None:
                detail = f"user {user.name}, token {token[:PREFIX_LENGTH]}…, label {label!r}"
                self._audit.record_as(actor, "user.token", detail=detail, session=session)
            session.commit()
        return token

    def user_for_token(self, token: str) -> ConsoleUser | None:
        """Return the enabled user a live token acts as, or None (unknown, revoked, user disabled).

        The comparison of hashes is constant-time; the row is found by the token's first characters.
        """
        digest = _digest(token)
        now = self._clock.now()
        with self._db.session() as session:
            rows = session.exec(
                select(ApiTokenRecord, ConsoleUserRecord)
                .join(ConsoleUserRecord, col(ConsoleUserRecord.id) == col(ApiTokenRecord.user_id))
                .where(ApiTokenRecord.prefix == token[:PREFIX_LENGTH], col(ApiTokenRecord.revoked_at).is_(None))
            ).all()
            found = next((pair for pair in rows if hmac.compare_digest(pair[0].token_hash, digest)), None)
            if found is None or found[1].disabled:
                return None
            record, user = found
            if record.last_used_at is None or now - record.last_used_at >= USE_GRANULARITY:
                record.last_used_at = now
                session.commit()
            return ConsoleUser.of(user)

    def revoke_token(self, token_id: int, *, actor: Actor | None = None) -> None:
        """End the token with id ``token_id`` now; revoking it again changes nothing.

        Raises:
            AccountRefused: no token has that id.
        """
        with self._db.session() as session:
            record = session.get(ApiTokenRecord, token_id)
            if record is None:
                raise AccountRefused(Reason("no API token with id %(id)d", id=token_id))
            if record.revoked_at is None:
                record.revoked_at = self._clock.now()
                if actor is not None:
                    detail = f"token {token_id} ({record.prefix}…)"
                    self._audit.record_as(actor, "user.revoke_token", detail=detail, session=session)
                session.commit()

    def tokens(self, name: str) -> list[TokenInfo]:
        """Return the user ``name``'s tokens, newest first, revoked ones included.

        Raises:
            AccountRefused: no such user.
        """
        with self._db.session() as session:
            user = existing_row(session, name)
            rows = session.exec(
                select(ApiTokenRecord).where(ApiTokenRecord.user_id == user.id).order_by(col(ApiTokenRecord.id).desc())
            )
            return [_info(r) for r in rows]

    def tokens_by_user(self) -> dict[str, list[TokenInfo]]:
        """Return every user's tokens by user name, newest first, revoked ones included, in one query.

        A user without tokens is not a key (the users list: :meth:`Accounts.list`).
        """
        with self._db.session() as session:
            rows = session.exec(
                select(ConsoleUserRecord.name, ApiTokenRecord)
                .join(ConsoleUserRecord, col(ConsoleUserRecord.id) == col(ApiTokenRecord.user_id))
                .order_by(col(ApiTokenRecord.id).desc())
            )
            found: dict[str, list[TokenInfo]] = {}
            for name, record in rows:
                found.setdefault(name, []).append(_info(record))
            return found
