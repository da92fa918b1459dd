"""API tokens on both databases: shown once, kept as a hash, found in constant time, revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from lapor_sync.accounts.audit import Actor, AuditLog
from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.tokens import PREFIX_LENGTH, ApiTokens
from lapor_sync.accounts.users import AccountRefused, Accounts
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import ApiTokenRecord

ADMIN = Actor(user="ani", role="admin", address="cli")


@pytest.fixture
def tokens(database: Database, clock: ManualClock) -> ApiTokens:
    Accounts(database, clock).add("dasbor", Role.VIEWER, "kata-sandi-yang-panjang")
    return ApiTokens(database, clock)


def test_a_token_acts_as_its_user_and_only_its_hash_is_kept(tokens: ApiTokens, database: Database) -> None:
    token = tokens.issue_token("Dasbor", label="dasbor kominfo")

    user = tokens.user_for_token(token)
    assert user is not None and (user.name, user.role) == ("dasbor", Role.VIEWER)
    with database.session() as session:
        stored = session.exec(select(ApiTokenRecord)).one()
    assert token not in (stored.token_hash, stored.prefix) and stored.prefix == token[:PREFIX_LENGTH]
    assert len(token) >= 43  # 32 random bytes, base64url


def test_an_unknown_or_altered_token_acts_as_nobody(tokens: ApiTokens) -> None:
    token = tokens.issue_token("dasbor", label="x")

    assert tokens.user_for_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.user_for_token("") is None
    assert tokens.user_for_token("tidak-ada") is None


def test_last_use_is_written_at_most_once_a_minute(tokens: ApiTokens, clock: ManualClock) -> None:
    token = tokens.issue_token("dasbor", label="x")
    first = clock.now()
    tokens.user_for_token(token)
    clock.advance(timedelta(seconds=59))
    tokens.user_for_token(token)
    assert tokens.tokens("dasbor")[0].last_used_at == first

    clock.advance(timedelta(seconds=1))
    tokens.user_for_token(token)
    assert tokens.tokens("dasbor")[0].last_used_at == clock.now()


def test_a_revoked_token_or_a_disabled_user_acts_as_nobody(
    tokens: ApiTokens, database: Database, clock: ManualClock
) -> None:
    kept, revoked = tokens.issue_token("dasbor", label="kept"), tokens.issue_token("dasbor", label="revoked")
    listed = {info.label: info for info in tokens.tokens("dasbor")}
    tokens.revoke_token(listed["revoked"].id)
    tokens.revoke_token(listed["revoked"].id)  # again: no change

    assert tokens.user_for_token(revoked) is None
    assert tokens.user_for_token(kept) is not None
    assert [(i.label, i.revoked_at) for i in tokens.tokens("dasbor")] == [("revoked", clock.now()), ("kept", None)]

    Accounts(database, clock).disable("dasbor")
    assert tokens.user_for_token(kept) is None


def test_unknown_users_and_token_ids_are_refused(tokens: ApiTokens) -> None:
    with pytest.raises(AccountRefused, match="no console user"):
        tokens.issue_token("nobody", label="x")
    with pytest.raises(AccountRefused, match="no console user"):
        tokens.tokens("nobody")
    with pytest.raises(AccountRefused, match="no API token with id 99"):
        tokens.revoke_token(99)


def test_issuing_and_revoking_by_an_actor_is_audited_without_the_token(
    tokens: ApiTokens, database: Database, clock: ManualClock
) -> None:
    token = tokens.issue_token("dasbor", label="dasbor kominfo", actor=ADMIN)
    tokens.revoke_token(tokens.tokens("dasbor")[0].id, actor=ADMIN)

    entries = AuditLog(database, clock).search()
    assert [e.action for e in entries] == ["user.revoke_token", "user.token"]
    assert all(token not in (e.detail or "") for e in entries)
    assert token[:PREFIX_LENGTH] in (entries[1].detail or "")
