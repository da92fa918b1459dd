"""The event search with ``log``'s filters, and its live tail as server-sent events (``log --follow``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from lapor_sync.accounts.roles import Role
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent
from lapor_sync.web import live
from lapor_sync.web.pages import events as event_pages
from tests.support.cli import PERSONAL, SECRET_CONTENT, SECRET_TITLE
from tests.support.factories import T0
from tests.web.conftest import ConsoleHarness, csrf_of

SEEDED_AT = T0 + timedelta(days=3)  # 4 July 2024 09.00 WIB


def _add_event(url: str, message: str, *, tracking_id: str = "1900001", level: str = "info", **fields: object) -> int:
    db = Database(url)
    with db.session() as session:
        event = SyncEvent(
            at=fields.pop("at", SEEDED_AT),
            kind=fields.pop("kind", "complaint.updated"),
            level=level,
            tracking_id=tracking_id,
            agency_code=fields.pop("agency_code", "DINSOS"),
            message=message,
        )
        session.add(event)
        session.commit()
        event_id = event.id
    db.dispose()
    assert event_id is not None
    return event_id


def _ids(console: ConsoleHarness, **params: str) -> list[int]:
    client = console.signed_in(Role.VIEWER)
    answer = client.get("/api/v1/events", params=params)
    assert answer.status_code == 200, answer.text
    return [event["id"] for event in answer.json()["events"]]


def test_the_search_filters_by_tracking_id_agency_level_and_kind(console: ConsoleHarness) -> None:
    assert _ids(console) == [4, 3, 2, 1]  # newest first
    assert _ids(console, tracking_id="#1900003") == [4, 3]
    assert _ids(console, agency="dinkes") == [2]
    assert _ids(console, level="warning") == [4]
    assert _ids(console, kind="complaint") == [4, 3, 2, 1]  # a family: all its kinds
    assert _ids(console, kind="complaint.triage") == [4]
    assert _ids(console, tracking_id="", agency="", level="", kind="") == [4, 3, 2, 1]  # the form's "any"


def test_since_and_until_are_wib_days_both_included(console: ConsoleHarness) -> None:
    # 23.30 WIB on 5 July is 16.30 UTC: the WIB day decides, not the UTC one.
    late = _add_event(console.seeded.url, "late", at=SEEDED_AT + timedelta(days=1, hours=14, minutes=30))
    assert _ids(console, since="2024-07-05") == [late]
    assert _ids(console, until="2024-07-04") == [4, 3, 2, 1]
    assert _ids(console, since="2024-07-04", until="2024-07-05") == [late, 4, 3, 2, 1]
    assert _ids(console, since="2024-07-06") == []


def test_bad_filters_are_refused_in_the_readers_language(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    answer = client.get("/events", params={"since": "kemarin"})
    assert answer.status_code == 422 and "Bukan tanggal (TTTT-BB-HH): kemarin" in answer.text
    assert client.get("/api/v1/events", params={"level": "loud"}).status_code == 422


def test_the_page_lists_events_with_filters_labelled_and_a_live_switch(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER).get("/events", params={"tracking_id": "1900003", "level": "warning"})
    assert page.status_code == 200
    assert '<tr data-id="4">' in page.text and '<tr data-id="3">' not in page.text
    assert '<label for="f-agency">' in page.text and '<option value="DINKES">' in page.text  # the mapping's agencies
    assert 'data-live-source="/events/stream?tracking_id=1900003&amp;level=warning&amp;after=4"' in page.text
    assert "04 Juli 2024 09.00 WIB" in page.text
    assert '<script src="/static/console.js" defer></script>' in page.text


def test_events_are_paged_by_keyset(console: ConsoleHarness) -> None:
    for n in range(55):
        _add_event(console.seeded.url, f"event {n}")
    client = console.signed_in(Role.VIEWER)
    first = client.get("/api/v1/events").json()
    assert len(first["events"]) == 50 and first["live_after"] == 59
    second = client.get("/api/v1/events", params={"before": first["next_before"]}).json()
    assert [e["id"] for e in second["events"]] == [9, 8, 7, 6, 5, 4, 3, 2, 1] and second["next_before"] is None
    page = client.get("/events", params={"level": "info"}).text
    assert f'href="/events?level=info&amp;before={first["next_before"]}"' in page


@pytest.fixture
def quick_stream(console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Pauses that move the console's manual clock instead of waiting; a stream of 40 s (by that clock)."""
    waited: list[float] = []

    async def pause(seconds: float) -> None:
        waited.append(seconds)
        console.clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    monkeypatch.setattr(live, "pause", pause)
    monkeypatch.setattr(live, "MAX_SECONDS", 40.0)
    yield waited


def _messages(body: str) -> list[dict[str, str]]:
    """The stream's messages as fields (``data`` lines joined); comments as ``{"comment": ...}``."""
    found = []
    for block in body.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            key = "comment" if name == "" else name
            fields[key] = f"{fields[key]}\n{value}" if key in fields else value
        found.append(fields)
    return found


def test_the_api_stream_sends_new_matching_events_as_json_then_keepalives_then_ends(
    console: ConsoleHarness, quick_stream: list[float]
) -> None:
    wanted = _add_event(console.seeded.url, "a reply arrived", tracking_id="1900003", level="warning")
    _add_event(console.seeded.url, "another complaint", tracking_id="1900001", level="warning")
    token = console.token(Role.VIEWER)
    answer = console.client().get(
        "/api/v1/events/stream",
        params={"tracking_id": "1900003", "after": 4},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    messages = _messages(answer.text)
    assert messages[0] == {"retry": "3000"}
    assert messages[1]["id"] == str(wanted) and messages[1]["event"] == "sync-event"
    event = json.loads(messages[1]["data"])
    assert event["message"] == "a reply arrived" and event["at"] == "2024-07-04T02:00:00+00:00"
    assert [m for m in messages if m.get("comment") == "keepalive"] == [{"comment": "keepalive"}] * 2  # 15 s, 30 s
    assert messages[-1]["event"] == "end" and messages[-1]["id"] == str(wanted + 1)  # resume from the newest seen
    assert set(quick_stream) == {live.POLL_SECONDS} and len(quick_stream) == 40  # one poll a second, 40 s


def test_the_page_stream_sends_escaped_table_rows_and_resumes_from_last_event_id(
    console: ConsoleHarness, quick_stream: list[float]
) -> None:
    first = _add_event(console.seeded.url, "<b>not markup</b>")
    second = _add_event(console.seeded.url, "second")
    client = console.signed_in(Role.VIEWER, accept_language="en")
    messages = _messages(client.get("/events/stream", params={"after": 4}).text)
    rows = [m for m in messages if m.get("event") == "sync-event"]
    assert [m["id"] for m in rows] == [str(first), str(second)]
    assert f'<tr data-id="{first}">' in rows[0]["data"]
    assert "&lt;b&gt;not markup&lt;/b&gt;" in rows[0]["data"] and "<b>" not in rows[0]["data"]
    resumed = _messages(client.get("/events/stream", headers={"Last-Event-ID": str(first)}).text)
    assert [m["id"] for m in resumed if m.get("event") == "sync-event"] == [str(second)]


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])  # 2.4: Starlette leaves noticing it to the stream
def test_a_stream_ends_when_its_reader_goes_away(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch, spec_version: str
) -> None:
    async def pause(seconds: float) -> None:
        await asyncio.sleep(0.01)  # real time, but the stream must not wait for MAX_SECONDS

    monkeypatch.setattr(live, "pause", pause)
    _add_event(console.seeded.url, "first")
    token = console.token(Role.VIEWER)
    sent: list[dict[str, object]] = []
    gone = asyncio.Event()
    requested: list[bool] = []

    async def receive() -> dict[str, object]:
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if b"event: sync-event" in message.get("body", b""):  # type: ignore[operator]
            gone.set()  # the reader read its first event and closed the tab

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/events/stream",
        "raw_path": b"/api/v1/events/stream",
        "root_path": "",
        "query_string": b"after=4",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(asyncio.wait_for(console.asgi(scope, receive, send), timeout=10))
    assert sent[0]["status"] == 200
    assert gone.is_set()


def test_streams_and_search_need_a_signed_in_user(console: ConsoleHarness) -> None:
    client = console.client()
    assert client.get("/events").status_code == 303
    assert client.get("/events/stream").status_code == 303
    assert client.get("/api/v1/events").status_code == 401
    assert client.get("/api/v1/events/stream").status_code == 401


def test_a_stream_ends_at_its_next_poll_once_the_server_is_stopping(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def pause(seconds: float) -> None:
        console.asgi.state.console.stopping.set()  # ConsoleServer.stop() during the first wait
        await asyncio.sleep(0)

    monkeypatch.setattr(live, "pause", pause)  # the clock stands still: only the stop can end the stream
    first = _add_event(console.seeded.url, "first")
    client = console.signed_in(Role.VIEWER)
    messages = _messages(client.get("/api/v1/events/stream", params={"after": 4}).text)
    assert [m.get("id") for m in messages] == [None, str(first)]  # retry, the event, then the end of the body


@pytest.mark.parametrize("how", ["disabled", "signed out", "token revoked"])
def test_a_stream_ends_at_its_next_poll_once_its_reader_may_no_longer_read(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    token = console.token(Role.VIEWER)
    browser = console.signed_in(Role.VIEWER)
    csrf = csrf_of(browser, "/")
    ended = {
        "disabled": lambda: console.accounts.disable("viewer"),
        "signed out": lambda: browser.post("/sign-out", data={"csrf_token": csrf}),
        "token revoked": lambda: console.tokens.revoke_token(console.tokens.tokens("viewer")[0].id),
    }
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)
        console.clock.advance(timedelta(seconds=seconds))
        if len(waits) == 1:
            await asyncio.to_thread(ended[how])
            _add_event(console.seeded.url, "written after the reader lost access")
        await asyncio.sleep(0)

    monkeypatch.setattr(live, "pause", pause)
    monkeypatch.setattr(live, "MAX_SECONDS", 40.0)
    _add_event(console.seeded.url, "first")
    if how == "token revoked":
        reader, headers = console.client(), {"Authorization": f"Bearer {token}"}
    else:
        reader, headers = console.signed_in(Role.VIEWER), {}
    body = reader.get("/api/v1/events/stream", params={"after": 4}, headers=headers).text
    assert "first" in body
    assert "written after the reader lost access" not in body
    assert len(waits) == 1


def test_no_page_of_this_area_shows_a_reporter_or_confidential_content(
    console: ConsoleHarness, quick_stream: list[float]
) -> None:
    admin = console.signed_in(Role.ADMIN)  # the role that may see the most
    paths = ["/", "/api/v1/dashboard", "/runs", "/api/v1/runs", "/events", "/api/v1/events"]
    paths += [f"/runs/{console.seeded.pull_run}", f"/api/v1/runs/{console.seeded.pull_run}"]
    paths += ["/events/stream?after=0", "/api/v1/events/stream?after=0"]
    for path in paths:
        answer = admin.get(path)
        assert answer.status_code == 200, path
        text = answer.text
        assert "stream" not in path or "1900003" in text  # from the first event: the seeded ones are sent
        for secret in (*PERSONAL, SECRET_TITLE, SECRET_CONTENT):
            assert secret not in text, f"{secret!r} on {path}"


def test_a_stream_replays_a_bounded_number_of_ids(
    console: ConsoleHarness, quick_stream: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_pages, "REPLAY_IDS", 2)
    token = console.token(Role.VIEWER)
    body = console.client().get("/api/v1/events/stream?after=0", headers={"Authorization": f"Bearer {token}"}).text
    assert [m["id"] for m in _messages(body) if m.get("event") == "sync-event"] == ["3", "4"]
