"""Ids no record can have (too big for the database's integers) are "no such record", not a server error."""

from __future__ import annotations

import pytest

from lapor_sync.accounts.roles import Role
from tests.web.conftest import ConsoleHarness

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "path",
    [f"/cases/{HUGE}", f"/api/v1/cases/{HUGE}", f"/cases?before={HUGE}", f"/runs/{HUGE}", f"/outbox/{HUGE}"],
)
def test_an_id_too_big_for_the_database_is_no_such_record(console: ConsoleHarness, path: str) -> None:
    answer = console.signed_in(Role.ADMIN).get(path)
    assert answer.status_code in (404, 422), answer.text[:300]
    assert "Traceback" not in answer.text
