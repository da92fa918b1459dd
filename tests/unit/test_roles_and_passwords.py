"""Roles rank admin over operator over viewer; passwords hash with argon2id and rehash when parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher

from lapor_sync.accounts import passwords
from lapor_sync.accounts.roles import Role


def test_each_role_may_do_what_the_roles_below_it_may() -> None:
    assert Role.ADMIN.at_least(Role.OPERATOR) and Role.ADMIN.at_least(Role.VIEWER)
    assert Role.OPERATOR.at_least(Role.OPERATOR) and Role.OPERATOR.at_least(Role.VIEWER)
    assert not Role.OPERATOR.at_least(Role.ADMIN)
    assert not Role.VIEWER.at_least(Role.OPERATOR)
    assert Role("viewer") is Role.VIEWER


def test_a_hash_verifies_its_password_only() -> None:
    hashed = passwords.hash_password("kata-sandi-yang-panjang")

    assert passwords.verify_password(hashed, "kata-sandi-yang-panjang")
    assert not passwords.verify_password(hashed, "kata-sandi-yang-lain")
    assert not passwords.verify_password("not a hash", "kata-sandi-yang-panjang")
    assert not passwords.needs_rehash(hashed)


def test_a_hash_made_with_weaker_parameters_needs_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("kata-sandi-yang-panjang")

    assert passwords.needs_rehash(weak)
    assert passwords.verify_password(weak, "kata-sandi-yang-panjang")
