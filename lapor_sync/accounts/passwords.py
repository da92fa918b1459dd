"""Console passwords: the strength rule, argon2id hashes, verification."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.reports.reasons import Reason

MIN_LENGTH = 10
"""The shortest password accepted, in characters (NIST SP 800-63B asks for at least 8)."""
MAX_LENGTH = 1024
"""The longest password accepted, in characters: argon2 would hash any length, slowly."""

_HASHER = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 "low memory" parameters


class WeakPassword(LaporSyncError):  # noqa: N818 - a refusal people read, named as they say it
    """A new password breaks the rule (blank, shorter than :data:`MIN_LENGTH`, too long).

    The message says which rule; it never quotes the password.
    """


def check_strength(password: str) -> None:
    """Refuse a password a console account must not get.

    Args:
        password: the new password, as typed.

    Raises:
        WeakPassword: blank or only spaces, shorter than :data:`MIN_LENGTH` or longer than
            :data:`MAX_LENGTH` characters.
    """
    if not password.strip():
        raise WeakPassword(Reason("the password is blank"))
    if len(password) < MIN_LENGTH:
        raise WeakPassword(Reason("the password is shorter than %(n)d characters", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(Reason("the password is longer than %(n)d characters", n=MAX_LENGTH))


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password`` (PHC string format, salt included).

    Raises:
        WeakPassword: as :func:`check_strength`.
    """
    check_strength(password)
    return _HASHER.hash(password)


def rehash(password: str) -> str:
    """Return a new hash of a password that has just verified, with today's parameters.

    Not checked against the strength rule: it is the user's password already, and refusing it at
    sign-in after a rule change would lock them out instead of asking them to change it.
    """
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return whether ``password`` matches ``password_hash``; a malformed hash matches nothing."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return whether ``password_hash`` was made with other parameters than today's (rehash it at sign-in)."""
    return _HASHER.check_needs_rehash(password_hash)


@cache
def dummy_hash() -> str:
    """A hash of a random password nobody knows, verified when the user does not exist.

    Verifying something takes as long for an unknown name as for a wrong password, so the time of
    an answer does not tell whether a user exists.
    """
    return _HASHER.hash(secrets.token_urlsafe(32))
