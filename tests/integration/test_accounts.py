"""Console users on both databases: adding, roles, passwords, sign-in and its throttle, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import func, select

from lapor_sync.accounts import passwords
from lapor_sync.accounts.audit import Actor, AuditLog
from lapor_sync.accounts.passwords import WeakPassword
from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.throttle import PER_ADDRESS, PER_NAME, WINDOW, SignInThrottled
from lapor_sync.accounts.users import AccountRefused, Accounts, ConsoleUser, SignInRefused
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import ConsoleUserRecord, SignInAttempt

PASSWORD = "kata-sandi-yang-panjang"
HERE = "192.0.2.10"
ADMIN = Actor(user="ani", role="admin", address=HERE)


@pytest.fixture
def accounts(database: Database, clock: ManualClock) -> Accounts:
    return Accounts(database, clock)


def test_a_user_is_added_case_folded_and_read_back_without_the_hash(accounts: Accounts) -> None:
    added = accounts.add("Budi.Santoso", Role.OPERATOR, PASSWORD)

    assert added == ConsoleUser(added.id, "budi.santoso", Role.OPERATOR, disabled=False)
    assert accounts.get("BUDI.santoso") == added
    assert accounts.by_id(added.id) == added
    assert accounts.get("nobody") is None and accounts.get("no spaces allowed") is None
    assert [u.name for u in accounts.list()] == ["budi.santoso"]


def test_the_password_is_stored_only_as_an_argon2id_hash(accounts: Accounts, database: Database) -> None:
    accounts.add("budi", Role.VIEWER, PASSWORD)

    with database.session() as session:
        stored = session.exec(select(ConsoleUserRecord.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize("name", ["", "a" * 65, "budi santoso", "budi@kota", "bü"])
def test_a_bad_name_is_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(AccountRefused, match="1 to 64 characters"):
        accounts.add(name, Role.VIEWER, PASSWORD)


def test_a_taken_name_is_refused_whatever_its_case(accounts: Accounts) -> None:
    accounts.add("budi", Role.VIEWER, PASSWORD)

    with pytest.raises(AccountRefused, match="exists already"):
        accounts.add("BUDI", Role.ADMIN, PASSWORD)


@pytest.mark.parametrize(("password", "why"), [("", "blank"), (" " * 12, "blank"), ("pendek123", "shorter than 10")])
def test_a_weak_password_is_refused_without_being_quoted(accounts: Accounts, password: str, why: str) -> None:
    with pytest.raises(WeakPassword, match=why) as refused:
        accounts.add("budi", Role.VIEWER, password)

    assert password.strip() == "" or password not in str(refused.value)
    assert accounts.get("budi") is None


def test_sign_in_succeeds_with_the_right_password(accounts: Accounts) -> None:
    added = accounts.add("budi", Role.ADMIN, PASSWORD)

    assert accounts.authenticate("Budi", PASSWORD, address=HERE) == added


def test_unknown_user_wrong_password_and_disabled_account_get_the_same_answer(accounts: Accounts) -> None:
    accounts.add("budi", Role.ADMIN, PASSWORD)
    accounts.add("sari", Role.VIEWER, PASSWORD)
    accounts.disable("sari")

    messages = set()
    for name, password in [("nobody", PASSWORD), ("budi", "salah-sandi-123"), ("sari", PASSWORD)]:
        with pytest.raises(SignInRefused) as refused:
            accounts.authenticate(name, password, address=HERE)
        messages.add(str(refused.value))
    assert len(messages) == 1


def test_five_failures_for_one_name_throttle_it_until_the_window_ends(accounts: Accounts, clock: ManualClock) -> None:
    accounts.add("budi", Role.ADMIN, PASSWORD)
    for attempt in range(PER_NAME):
        clock.advance(timedelta(minutes=1))
        with pytest.raises(SignInRefused):
            accounts.authenticate("budi", f"salah-{attempt}-sandi", address=f"198.51.100.{attempt}")

    with pytest.raises(SignInThrottled) as throttled:
        accounts.authenticate("BUDI", PASSWORD, address="203.0.113.1")  # right password, other address
    # The first failure (4 minutes ago) leaves the window 11 minutes from now.
    assert throttled.value.retry_after_seconds == 11 * 60

    clock.advance(timedelta(minutes=11))
    assert accounts.authenticate("budi", PASSWORD, address="203.0.113.1").name == "budi"


def test_twenty_failures_from_one_address_throttle_it_for_every_name(accounts: Accounts, clock: ManualClock) -> None:
    accounts.add("budi", Role.ADMIN, PASSWORD)
    for attempt in range(PER_ADDRESS):
        with pytest.raises(SignInRefused):
            accounts.authenticate(f"tebak{attempt}", PASSWORD, address=HERE)

    with pytest.raises(SignInThrottled) as throttled:
        accounts.authenticate("budi", PASSWORD, address=HERE)
    assert throttled.value.retry_after_seconds == WINDOW.total_seconds()
    assert accounts.authenticate("budi", PASSWORD, address="192.0.2.11").name == "budi"


def test_a_success_clears_no_failure(accounts: Accounts) -> None:
    accounts.add("budi", Role.ADMIN, PASSWORD)
    for _ in range(PER_NAME - 1):
        with pytest.raises(SignInRefused):
            accounts.authenticate("budi", "salah-sandi-123", address=HERE)
    accounts.authenticate("budi", PASSWORD, address=HERE)
    with pytest.raises(SignInRefused):
        accounts.authenticate("budi", "salah-sandi-123", address=HERE)

    with pytest.raises(SignInThrottled):
        accounts.authenticate("budi", PASSWORD, address=HERE)


def test_failures_older_than_the_window_are_pruned(accounts: Accounts, clock: ManualClock, database: Database) -> None:
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.authenticate("budi", PASSWORD, address=HERE)
    clock.advance(WINDOW)
    with pytest.raises(SignInRefused):
        accounts.authenticate("budi", PASSWORD, address=HERE)

    with database.session() as session:
        kept = session.exec(select(SignInAttempt)).all()
    assert [row.at for row in kept] == [clock.now()]
    assert all("budi" not in row.name_key for row in kept)  # the name tried is kept hashed


def test_a_password_change_ends_older_sessions(accounts: Accounts, clock: ManualClock) -> None:
    user = accounts.add("budi", Role.ADMIN, PASSWORD)
    issued = clock.now()
    assert accounts.session_valid(user.id, issued)

    clock.advance(timedelta(minutes=5))
    accounts.set_password("budi", "sandi-baru-yang-panjang")

    assert not accounts.session_valid(user.id, issued)
    assert accounts.session_valid(user.id, clock.now())
    assert accounts.authenticate("budi", "sandi-baru-yang-panjang", address=HERE).id == user.id


def test_disabling_ends_sessions_and_enabling_restores_them(accounts: Accounts, clock: ManualClock) -> None:
    user = accounts.add("budi", Role.ADMIN, PASSWORD)
    accounts.disable("budi")
    assert not accounts.session_valid(user.id, clock.now())
    assert accounts.get("budi") == ConsoleUser(user.id, "budi", Role.ADMIN, disabled=True)

    accounts.enable("budi")
    assert accounts.session_valid(user.id, clock.now())
    assert not accounts.session_valid(user.id + 1, clock.now())


def test_changes_for_unknown_users_are_refused(accounts: Accounts) -> None:
    for change in (
        lambda: accounts.set_password("nobody", PASSWORD),
        lambda: accounts.set_role("nobody", Role.ADMIN),
        lambda: accounts.disable("nobody"),
        lambda: accounts.enable("nobody"),
    ):
        with pytest.raises(AccountRefused, match="no console user 'nobody'"):
            change()


def test_each_change_by_an_actor_is_audited_with_it(accounts: Accounts, database: Database, clock: ManualClock) -> None:
    accounts.add("budi", Role.VIEWER, PASSWORD, actor=ADMIN)
    accounts.set_role("budi", Role.OPERATOR, actor=ADMIN)
    accounts.set_password("budi", "sandi-baru-yang-panjang", actor=ADMIN)
    accounts.disable("budi", actor=ADMIN)
    accounts.enable("budi", actor=ADMIN)
    accounts.add("sari", Role.VIEWER, PASSWORD)  # no actor: nothing audited

    entries = AuditLog(database, clock).search()

    assert [(e.action, e.detail) for e in entries] == [
        ("user.enable", "user budi"),
        ("user.disable", "user budi"),
        ("user.passwd", "user budi"),
        ("user.role", "user budi, role viewer -> operator"),
        ("user.add", "user budi, role viewer"),
    ]
    assert {(e.user, e.role, e.address) for e in entries} == {("ani", "admin", HERE)}
    assert all(PASSWORD not in (e.detail or "") for e in entries)


def test_a_refused_change_leaves_no_audit_entry(accounts: Accounts, database: Database, clock: ManualClock) -> None:
    accounts.add("budi", Role.VIEWER, PASSWORD, actor=ADMIN)
    with pytest.raises(AccountRefused):
        accounts.add("budi", Role.VIEWER, PASSWORD, actor=ADMIN)

    with database.session() as session:
        users = session.exec(select(func.count()).select_from(ConsoleUserRecord)).one()
    assert users == 1
    assert [e.action for e in AuditLog(database, clock).search()] == ["user.add"]


def test_an_unknown_name_costs_a_password_verification_too(accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts.add("budi", Role.ADMIN, PASSWORD)
    verified: list[str] = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    for name in ("budi", "nobody", "not a name"):
        with pytest.raises(SignInRefused):
            accounts.authenticate(name, "salah-sandi-123", address=HERE)

    assert len(verified) == 3 and verified[1] == verified[2] == passwords.dummy_hash()


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(accounts: Accounts, database: Database) -> None:
    accounts.add("budi", Role.ADMIN, PASSWORD)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)
    with database.session() as session:
        row = session.exec(select(ConsoleUserRecord)).one()
        row.password_hash = old
        session.commit()

    accounts.authenticate("budi", PASSWORD, address=HERE)

    with database.session() as session:
        renewed = session.exec(select(ConsoleUserRecord.password_hash)).one()
    assert renewed != old and not passwords.needs_rehash(renewed)
    assert accounts.authenticate("budi", PASSWORD, address=HERE).name == "budi"
