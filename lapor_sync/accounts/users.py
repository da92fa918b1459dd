"""Console users: adding them, their passwords and roles, signing in, and whether a session still holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from lapor_sync.accounts import passwords, throttle
from lapor_sync.accounts.audit import Actor, AuditLog
from lapor_sync.accounts.roles import Role
from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.reports.reasons import Reason
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import ConsoleUserRecord

_NAME = re.compile(r"[a-z0-9._-]{1,64}")


class AccountRefused(LaporSyncError):  # noqa: N818 - a refusal people read, named as they say it
    """A user-management request that cannot be done: a bad or taken name, an unknown user or token."""


class SignInRefused(LaporSyncError):  # noqa: N818 - a refusal people read, named as they say it
    """A sign-in refused; one message whatever the cause, so it does not tell whether the user exists."""

    def __init__(self) -> None:
        super().__init__("the user name or the password is wrong, or the account is disabled")


@dataclass(frozen=True)
class ConsoleUser:
    """A console user as the console and the CLI see them (never the password hash)."""

    id: int
    name: str
    role: Role
    disabled: bool

    @classmethod
    def of(cls, row: ConsoleUserRecord) -> ConsoleUser:
        """Build the user from its stored row."""
        assert row.id is not None  # read from the database
        return cls(row.id, row.name, Role(row.role), row.disabled)


def normalise_name(name: str) -> str:
    """Return ``name`` case-folded and stripped, as it is stored and looked up.

    Raises:
        AccountRefused: not 1 to 64 characters of ``a-z 0-9 . _ -``.
    """
    folded = name.strip().casefold()
    if not _NAME.fullmatch(folded):
        raise AccountRefused(Reason("a user name is 1 to 64 characters: letters a-z, digits, '.', '_' or '-'"))
    return folded


def existing_row(session: Session, name: str) -> ConsoleUserRecord:
    """Return the stored row of the user ``name`` (any case).

    Raises:
        AccountRefused: a name that could not exist, or no such user.
    """
    folded = normalise_name(name)
    row = session.exec(select(ConsoleUserRecord).where(ConsoleUserRecord.name == folded)).first()
    if row is None:
        raise AccountRefused(Reason("no console user %(name)r", name=folded))
    return row


class Accounts:
    """The console's users (table ``console_user``).

    Every change takes an optional ``actor``: given, the change and its audit entry commit together.

    Args:
        db: the lapor-sync database.
        clock: where "now" comes from (sign-in windows, password changes).
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._audit = AuditLog(db, clock)

    def add(self, name: str, role: Role, password: str, *, actor: Actor | None = None) -> ConsoleUser:
        """Create a user.

        Args:
            name: 1 to 64 characters ``[a-z0-9._-]``; case-folded.
            role: what they may do.
            password: at least :data:`~lapor_sync.accounts.passwords.MIN_LENGTH` characters.
            actor: who adds them, for the audit log.

        Returns:
            The new user.

        Raises:
            AccountRefused: a bad name, or one already taken.
            WeakPassword: the password breaks the rule.
        """
        name = normalise_name(name)
        password_hash = passwords.hash_password(password)
        now = self._clock.now()
        row = ConsoleUserRecord(
            name=name, role=Role(role).value, password_hash=password_hash, created_at=now, password_changed_at=now
        )
        try:
            with self._db.session() as session:
                if self._row(session, name) is not None:
                    raise AccountRefused(Reason("user %(name)r exists already", name=name))
                session.add(row)
                self._log(session, actor, "user.add", f"user {name}, role {role}")
                session.commit()
        except IntegrityError:  # added by another process between the check and the insert
            raise AccountRefused(Reason("user %(name)r exists already", name=name)) from None
        return ConsoleUser.of(row)

    def set_password(self, name: str, password: str, *, actor: Actor | None = None) -> None:
        """Give ``name`` a new password; sessions issued before now end (:meth:`session_valid`).

        Raises:
            AccountRefused: no such user.
            WeakPassword: the password breaks the rule.
        """
        password_hash = passwords.hash_password(password)
        with self._db.session() as session:
            row = existing_row(session, name)
            row.password_hash, row.password_changed_at = password_hash, self._clock.now()
            self._log(session, actor, "user.passwd", f"user {row.name}")
            session.commit()

    def set_role(self, name: str, role: Role, *, actor: Actor | None = None) -> ConsoleUser:
        """Change ``name``'s role (it applies to their next request).

        Raises:
            AccountRefused: no such user.
        """
        with self._db.session() as session:
            row = existing_row(session, name)
            detail = f"user {row.name}, role {row.role} -> {Role(role).value}"
            row.role = Role(role).value
            self._log(session, actor, "user.role", detail)
            session.commit()
            return ConsoleUser.of(row)

    def disable(self, name: str, *, actor: Actor | None = None) -> None:
        """Stop ``name`` signing in; their sessions and tokens stop working. Raises AccountRefused if unknown."""
        self._set_disabled(name, disabled=True, actor=actor)

    def enable(self, name: str, *, actor: Actor | None = None) -> None:
        """Let a disabled ``name`` sign in again. Raises AccountRefused if unknown."""
        self._set_disabled(name, disabled=False, actor=actor)

    def get(self, name: str) -> ConsoleUser | None:
        """Return the user named ``name`` (any case), or None (also for a name that could not exist)."""
        try:
            name = normalise_name(name)
        except AccountRefused:
            return None
        with self._db.session() as session:
            row = self._row(session, name)
            return None if row is None else ConsoleUser.of(row)

    def by_id(self, user_id: int) -> ConsoleUser | None:
        """Return the user with id ``user_id``, or None."""
        with self._db.session() as session:
            row = session.get(ConsoleUserRecord, user_id)
            return None if row is None else ConsoleUser.of(row)

    def list(self) -> list[ConsoleUser]:
        """Return every user, by name."""
        with self._db.session() as session:
            rows = session.exec(select(ConsoleUserRecord).order_by(col(ConsoleUserRecord.name)))
            return [ConsoleUser.of(row) for row in rows]

    def authenticate(self, name: str, password: str, *, address: str) -> ConsoleUser:
        """Check a sign-in; count it when it fails.

        At most :data:`~lapor_sync.accounts.throttle.PER_NAME` failures per name and
        :data:`~lapor_sync.accounts.throttle.PER_ADDRESS` per address within 15 minutes; a success
        clears nothing. An unknown name costs a password verification too (against a dummy hash),
        so the answer's time does not tell whether the user exists. A hash made with older argon2
        parameters is replaced by a new one.

        Args:
            name: the user name as typed.
            password: the password as typed.
            address: the client's address.

        Returns:
            The signed-in user.

        Raises:
            SignInThrottled: too many failures for this name or address; nothing was checked.
            SignInRefused: unknown user, wrong password or disabled account, alike.
        """
        now = self._clock.now()
        with self._db.session() as session:
            throttle.check(session, name=name, address=address, now=now)
            row = self._row(session, name.strip().casefold()[:64])
        # Verified between two transactions: on SQLite a read transaction that turns into a write
        # after argon2's tens of milliseconds may find the file taken by another writer, and fail.
        matches = passwords.verify_password(passwords.dummy_hash() if row is None else row.password_hash, password)
        with self._db.session() as session:
            if row is None or not matches or row.disabled:
                throttle.record_failure(session, name=name, address=address, now=now)
                session.commit()
                raise SignInRefused
            if passwords.needs_rehash(row.password_hash):
                stored = session.get(ConsoleUserRecord, row.id)
                if stored is not None and stored.password_hash == row.password_hash:  # unchanged meanwhile
                    stored.password_hash = passwords.rehash(password)
                    session.commit()
        return ConsoleUser.of(row)

    def session_valid(self, user_id: int, issued_at: datetime) -> bool:
        """Return whether a session issued at ``issued_at`` (aware) for ``user_id`` still holds (:meth:`session_user`)."""
        return self.session_user(user_id, issued_at) is not None

    def session_user(self, user_id: int, issued_at: datetime) -> ConsoleUser | None:
        """Return the user of a session issued at ``issued_at`` (aware), or None when it no longer holds.

        It does not when the user is gone or disabled, or changed their password or signed out after
        ``issued_at``. One read of the user's row: the console asks this on every request.
        """
        with self._db.session() as session:
            row = session.get(ConsoleUserRecord, user_id)
            if row is None or row.disabled or row.password_changed_at > issued_at:
                return None
            if row.signed_out_at is not None and row.signed_out_at > issued_at:
                return None
            return ConsoleUser.of(row)

    def sign_out(self, user_id: int) -> None:
        """End every session of ``user_id`` issued before now, in every browser (a copied cookie too).

        Stored in whole seconds, as sessions count their start: signing in again within the same
        second as the sign-out works.
        """
        with self._db.session() as session:
            row = session.get(ConsoleUserRecord, user_id)
            if row is not None:
                row.signed_out_at = self._clock.now().replace(microsecond=0)
                session.commit()

    def _set_disabled(self, name: str, *, disabled: bool, actor: Actor | None) -> None:
        with self._db.session() as session:
            row = existing_row(session, name)
            row.disabled = disabled
            self._log(session, actor, "user.disable" if disabled else "user.enable", f"user {row.name}")
            session.commit()

    def _log(self, session: Session, actor: Actor | None, action: str, detail: str) -> None:
        """Write the audit entry of a change in the change's own transaction (none without an actor)."""
        if actor is not None:
            self._audit.record_as(actor, action, detail=detail, session=session)

    @staticmethod
    def _row(session: Session, name: str) -> ConsoleUserRecord | None:
        return session.exec(select(ConsoleUserRecord).where(ConsoleUserRecord.name == name)).first()
