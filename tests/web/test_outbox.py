"""The outbox pages and their API: what a user sees, retry and cancel one or many, who may, and the audit."""

from __future__ import annotations

from lapor_sync.accounts.roles import Role
from tests.support.cli import outbox_row
from tests.web.conftest import ConsoleHarness, csrf_of


def test_the_list_shows_what_waits_and_the_dead_letters_with_their_last_error(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER).get("/outbox")
    assert page.status_code == 200
    assert "#1900001" in page.text and "#1900003" in page.text
    assert "HTTP 422: complaint is closed" in page.text and "gagal permanen" in page.text
    assert "Petugas akan survei lokasi" not in page.text  # follow-up texts are never shown
    assert 'name="ids"' not in page.text  # a viewer gets no bulk actions


def test_filters_and_the_json_twin(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    dead = client.get("/outbox?state=dead&kind=&tracking_id=")
    assert "#1900003" in dead.text and "#1900001" not in dead.text
    tracked = client.get("/outbox?state=&tracking_id=%231900001")
    assert "#1900001" in tracked.text and "#1900003" not in tracked.text
    token = console.token(Role.VIEWER)
    answer = client.get("/api/v1/outbox?state=dead", headers={"Authorization": f"Bearer {token}"}).json()
    assert [row["id"] for row in answer["rows"]] == [console.seeded.dead_outbox]
    assert answer["rows"][0]["last_error"] == "HTTP 422: complaint is closed" and "payload" not in answer["rows"][0]
    assert answer["next_before"] is None
    assert client.get("/outbox?state=lost").status_code == 422
    older = client.get(f"/outbox?before={console.seeded.dead_outbox}")  # the keyset: rows below that id
    assert "#1900001" in older.text and "#1900003" not in older.text


def test_a_row_page_shows_its_attempts_and_404_for_an_unknown_row(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    page = client.get(f"/outbox/{console.seeded.dead_outbox}")
    assert page.status_code == 200 and "Percobaan pengiriman" in page.text and "Kirim ulang sekarang" in page.text
    assert client.get("/outbox/999").status_code == 404
    detail = client.get(f"/api/v1/outbox/{console.seeded.dead_outbox}", headers=_bearer(console, Role.VIEWER)).json()
    assert detail["state"] == "dead" and detail["attempt_history"] == []


def test_an_operator_retries_a_dead_letter_and_it_is_audited(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    item = console.seeded.dead_outbox
    answer = client.post(f"/outbox/{item}/retry", data={"csrf_token": csrf_of(client, f"/outbox/{item}")})
    assert answer.status_code == 303 and answer.headers["location"] == f"/outbox/{item}"
    row = outbox_row(console.seeded.url, item)
    assert (row.state, row.attempts) == ("pending", 0)
    assert "kembali ke antrean" in client.get(f"/outbox/{item}").text.lower()
    [entry] = _audit(console, "outbox.retry")
    assert (entry.user, entry.tracking_id, entry.detail) == ("operator", "1900003", f"outbox #{item}")


def test_a_refused_retry_says_why(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    item = console.seeded.pending_outbox
    csrf = csrf_of(client, f"/outbox/{item}")
    client.post(f"/outbox/{item}/cancel", data={"csrf_token": csrf, "reason": "dikirim manual"})
    again = client.post(f"/outbox/{item}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Tidak dilakukan" in again.text and "is cancelled" in again.text
    assert _audit(console, "outbox.retry") == []


def test_an_operator_cancels_with_a_reason(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    item = console.seeded.pending_outbox
    answer = client.post(
        f"/outbox/{item}/cancel", data={"csrf_token": csrf_of(client, f"/outbox/{item}"), "reason": "dikirim manual"}
    )
    assert answer.status_code == 303
    row = outbox_row(console.seeded.url, item)
    assert (row.state, row.last_error) == ("cancelled", "dikirim manual")
    [entry] = _audit(console, "outbox.cancel")
    assert entry.detail == f"outbox #{item}"  # the reason is free text: kept on the row, not in the audit


def test_bulk_retry_and_cancel_count_each_outcome(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    seeded = console.seeded
    csrf = csrf_of(client, "/outbox")
    retried = client.post(
        "/outbox/bulk",
        data={"csrf_token": csrf, "action": "retry", "ids": [str(seeded.dead_outbox), "999"]},
        follow_redirects=True,
    )
    assert "Selesai untuk 1 baris; ditolak untuk 1" in retried.text and "#999" in retried.text
    assert outbox_row(seeded.url, seeded.dead_outbox).state == "pending"
    no_reason = client.post(
        "/outbox/bulk", data={"csrf_token": csrf, "action": "cancel", "ids": [str(seeded.dead_outbox)]}
    )
    assert no_reason.status_code == 303 and outbox_row(seeded.url, seeded.dead_outbox).state == "pending"
    cancelled = client.post(
        "/outbox/bulk",
        data={
            "csrf_token": csrf,
            "action": "cancel",
            "reason": "tidak perlu lagi",
            "ids": [str(seeded.dead_outbox), str(seeded.pending_outbox)],
        },
        follow_redirects=True,
    )
    assert "Selesai untuk 2 baris; ditolak untuk 0" in cancelled.text
    assert [e.detail for e in _audit(console, "outbox.cancel")] == [
        f"outbox #{seeded.pending_outbox} (bulk)",
        f"outbox #{seeded.dead_outbox} (bulk)",
    ]


def test_the_api_retries_cancels_and_bulk_acts_with_a_token(console: ConsoleHarness) -> None:
    client, seeded = console.client(), console.seeded
    headers = _bearer(console, Role.OPERATOR)
    retried = client.post(f"/api/v1/outbox/{seeded.dead_outbox}/retry", headers=headers)
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    bulk = client.post(
        "/api/v1/outbox/bulk",
        headers=headers,
        json={"ids": [seeded.pending_outbox, 999], "action": "cancel", "reason": "x"},
    ).json()
    assert [(o["item_id"], o["done"]) for o in bulk] == [(seeded.pending_outbox, True), (999, False)]
    refused = client.post(f"/api/v1/outbox/{seeded.pending_outbox}/cancel", headers=headers, json={"reason": "lagi"})
    assert refused.status_code == 409 and "cancelled" in refused.json()["error"]


def test_a_viewer_may_not_act_and_a_form_without_csrf_is_refused(console: ConsoleHarness) -> None:
    viewer, operator = console.signed_in(Role.VIEWER), console.signed_in(Role.OPERATOR)
    item = console.seeded.dead_outbox
    actions = [
        (f"/outbox/{item}/retry", {}),
        (f"/outbox/{item}/cancel", {"reason": "x"}),
        ("/outbox/bulk", {"action": "retry", "ids": str(item)}),
    ]
    csrf = csrf_of(viewer, "/outbox")
    for path, data in actions:
        assert viewer.post(path, data=data | {"csrf_token": csrf}).status_code == 403
        assert operator.post(path, data=data).status_code == 403
    assert (
        console.client().post(f"/api/v1/outbox/{item}/retry", headers=_bearer(console, Role.VIEWER)).status_code == 403
    )
    assert outbox_row(console.seeded.url, item).state == "dead"
    assert _audit(console, "outbox.retry") == [] and _audit(console, "outbox.cancel") == []


def _bearer(console: ConsoleHarness, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.token(role)}"}


def _audit(console: ConsoleHarness, action: str) -> list:
    return console.asgi.state.console.audit.search(action=action)
