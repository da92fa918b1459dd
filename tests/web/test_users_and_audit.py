"""Admins manage console users and read the audit log in the console; nobody else may."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from lapor_sync.accounts.roles import Role
from tests.web.conftest import ConsoleHarness, csrf_of


def test_admin_adds_a_user_who_can_then_sign_in(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    answer = admin.post(
        "/users",
        data={
            "name": "Siti",
            "role": "operator",
            "password": "sandi-baru-panjang",
            "password_again": "sandi-baru-panjang",
            "csrf_token": csrf_of(admin, "/users"),
        },
    )
    assert answer.status_code == 303
    page = admin.get("/users").text
    assert "Pengguna siti ditambahkan." in page and ">siti<" in page
    user = console.accounts.get("siti")
    assert user is not None and user.role is Role.OPERATOR
    (entry,) = admin.get("/api/v1/audit", params={"action": "user.add"}).json()["entries"][:1]
    assert (entry["user"], entry["address"]) == ("admin", "127.0.0.1")
    assert "siti" in entry["detail"] and "sandi" not in entry["detail"]


def test_a_weak_password_is_refused_with_its_reason(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    admin.post(
        "/users",
        data={
            "name": "budi",
            "role": "viewer",
            "password": "pendek",
            "password_again": "pendek",
            "csrf_token": csrf_of(admin, "/users"),
        },
    )
    assert console.accounts.get("budi") is None
    assert "10" in admin.get("/users").text  # the rule is stated


def test_a_refused_user_change_is_said_in_the_page_language(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    form = {"role": "viewer", "csrf_token": csrf_of(admin, "/users")}
    short = admin.post("/users", data={**form, "name": "budi", "password": "pendek", "password_again": "pendek"})
    assert "kata sandi kurang dari 10 karakter" in admin.get(short.headers["location"]).text
    taken = {**form, "name": "viewer", "password": "sandi-panjang-1", "password_again": "sandi-panjang-1"}
    admin.post("/users", data=taken)
    assert "pengguna &#39;viewer&#39; sudah ada" in admin.get("/users").text
    english = console.signed_in(Role.ADMIN, accept_language="en")
    english.post("/users", data={**taken, "csrf_token": csrf_of(english, "/users")})
    assert "user &#39;viewer&#39; exists already" in english.get("/users").text


def test_disabling_from_the_console_is_audited_with_the_admins_name_and_address(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    admin.post("/users/viewer/disable", data={"csrf_token": csrf_of(admin, "/users")})
    assert console.accounts.get("viewer").disabled
    entries = admin.get("/api/v1/audit", params={"action": "user.disable"}).json()["entries"]
    assert [(e["user"], e["role"], e["address"]) for e in entries] == [("admin", "admin", "127.0.0.1")]
    page = admin.get("/audit", params={"action": "user.disable"}).text
    assert "user.disable" in page and "127.0.0.1" in page


def test_an_issued_token_is_shown_once_and_works(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    shown = admin.post("/users/viewer/tokens", data={"label": "dasbor kota", "csrf_token": csrf_of(admin, "/users")})
    assert shown.status_code == 200
    token = shown.text.split('id="token" value="')[1].split('"')[0]
    assert token not in admin.get("/users").text
    program = console.client()
    assert program.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    token_id = admin.get("/api/v1/users").json()
    (viewer,) = [u for u in token_id if u["name"] == "viewer"]
    admin.post(f"/tokens/{viewer['tokens'][0]['id']}/revoke", data={"csrf_token": csrf_of(admin, "/users")})
    assert program.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_operators_and_viewers_may_not_manage_users_or_read_the_audit_log(console: ConsoleHarness) -> None:
    for role in (Role.OPERATOR, Role.VIEWER):
        client = console.signed_in(role)
        assert client.get("/users").status_code == 403
        assert client.get("/audit").status_code == 403
        refused = client.post("/users/viewer/role", data={"role": "admin", "csrf_token": csrf_of(client, "/")})
        assert refused.status_code == 403
        assert "Users" not in client.get("/", headers={"accept-language": "en"}).text
    assert console.accounts.get("viewer").role is Role.VIEWER


def test_the_audit_log_filters_by_day_in_wib_and_pages(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    for _ in range(55):
        console.audit_log.record(user="ops", role="operator", action="case.resync", address="10.0.0.9")
    first = admin.get("/api/v1/audit", params={"user": "ops"}).json()
    assert len(first["entries"]) == 50 and first["next_before"] is not None
    rest = admin.get("/api/v1/audit", params={"user": "ops", "before": first["next_before"]}).json()
    assert len(rest["entries"]) == 5 and rest["next_before"] is None
    today = console.clock.now().date().isoformat()
    assert (
        len(admin.get("/api/v1/audit", params={"user": "ops", "since": today, "until": today}).json()["entries"]) == 50
    )
    assert admin.get("/api/v1/audit", params={"user": "ops", "until": "2000-01-01"}).json()["entries"] == []


def test_the_users_list_reads_tokens_in_one_query_not_one_per_user(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def statements_for_the_list() -> int:
        statements.clear()
        event.listen(console.app.db.engine, "before_cursor_execute", count)
        try:
            assert admin.get("/api/v1/users").status_code == 200
        finally:
            event.remove(console.app.db.engine, "before_cursor_execute", count)
        return len(statements)

    few = statements_for_the_list()
    for n in range(20):
        console.accounts.add(f"petugas{n}", Role.VIEWER, "sandi-cukup-panjang")
        console.tokens.issue_token(f"petugas{n}", label="dasbor")
    assert statements_for_the_list() == few  # 20 more rows, no more queries
    listed = {user["name"]: user["tokens"] for user in admin.get("/api/v1/users").json()}
    assert [token["label"] for token in listed["petugas7"]] == ["dasbor"] and listed["admin"] == []
