"""Sign-in throttling: failed attempts counted per user name and per address over a sliding window.

The failures are rows in ``sign_in_attempt``, not counters in memory, because several processes may
serve the console behind one proxy. Two processes checking at the same instant may each let one
more attempt through than the limit; the limit stays within a few attempts, which is its purpose.
An attempt refused by the throttle is not counted itself: the window ends 15 minutes after the
failures in it, however often someone knocks meanwhile.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func
from sqlmodel import Session, col, select

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.storage.models import SignInAttempt

WINDOW = timedelta(minutes=15)
PER_NAME = 5
"""Failed sign-ins allowed per user name within :data:`WINDOW` (guessing one user's password)."""
PER_ADDRESS = 20
"""Failed sign-ins allowed per client address within :data:`WINDOW` (trying many users' passwords)."""


class SignInThrottled(LaporSyncError):  # noqa: N818 - a refusal people read, named as they say it
    """Too many failed sign-ins for this name or from this address; try again later.

    Attributes:
        retry_after_seconds: whole seconds until one more attempt is allowed (for ``Retry-After``).
    """

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds


def name_key(name: str) -> str:
    """The SHA-256 (hex) of a case-folded name tried, as ``sign_in_attempt`` keeps it."""
    return hashlib.sha256(name.strip().casefold().encode()).hexdigest()


def check(session: Session, *, name: str, address: str, now: datetime) -> None:
    """Refuse the attempt when the name or the address has used up its failures in the window.

    Args:
        session: an open session.
        name: the user name tried, as typed.
        address: the client's address.
        now: the current instant (aware UTC).

    Raises:
        SignInThrottled: with the seconds until the oldest counted failure leaves the window.
    """
    waits = [
        _wait(session, col(SignInAttempt.name_key) == name_key(name), PER_NAME, now),
        _wait(session, col(SignInAttempt.address) == address[:64], PER_ADDRESS, now),
    ]
    longest = max(waits)
    if longest > 0:
        raise SignInThrottled(longest)


def _wait(session: Session, matches: ColumnElement[bool], allowed: int, now: datetime) -> int:
    """Seconds until fewer than ``allowed`` failures matching ``matches`` are in the window; 0 if already."""
    in_window = col(SignInAttempt.at) > now - WINDOW
    count = session.exec(select(func.count()).select_from(SignInAttempt).where(matches, in_window)).one()
    if count < allowed:
        return 0
    # The attempt that must leave the window: the (count - allowed + 1)th oldest.
    freeing = session.exec(
        select(SignInAttempt.at).where(matches, in_window).order_by(col(SignInAttempt.at)).offset(count - allowed)
    ).first()
    assert freeing is not None  # counted just above, in the same transaction
    return max(1, math.ceil((freeing + WINDOW - now).total_seconds()))


def record_failure(session: Session, *, name: str, address: str, now: datetime) -> None:
    """Count one failed sign-in, and delete the failures that left the window (the table stays small).

    Args:
        session: an open session; the caller commits.
        name: the user name tried, as typed.
        address: the client's address.
        now: the current instant (aware UTC).
    """
    session.exec(delete(SignInAttempt).where(col(SignInAttempt.at) <= now - WINDOW))  # type: ignore[call-overload]
    session.add(SignInAttempt(at=now, name_key=name_key(name), address=address[:64]))
