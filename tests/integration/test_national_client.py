"""LaporClient against respx mocks: the inbox walk, detail, writes, pagination loops and retries (CONTRACT §5, §6)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.domain.complaint import AuthorType, InboxItem, MalformedRecord
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ConfigurationError,
    ItemRejectedError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.domain.ports import InboxWalkReport
from tests.support.national import BASE, VARIANT_ENDPOINTS, client_settings

INBOX = f"{BASE}/complaints/inbox"
FOLLOWUP_ADD = f"{BASE}/complaints/followup/add"
HTML = "<html><body>Service Unavailable</body></html>"


@pytest.fixture
def client() -> Iterator[LaporClient]:
    with LaporClient(BASE, StaticKeyAuth("sim-api-key", "{guid}"), retry=RetryPolicy.no_wait(), max_pages=5) as lapor:
        yield lapor


def page(rows: list[object], number: int, next_url: str | None) -> httpx.Response:
    """A Laravel paginator answer."""
    return httpx.Response(
        200,
        json={
            "results": {
                "current_page": number,
                "per_page": 100,
                "last_page": 9,
                "total": 99,
                "next_page_url": next_url,
                "data": rows,
            }
        },
    )


def row(complaint_id: int, updated_at: str = "31-10-2024 23:59:59") -> dict[str, object]:
    return {"complaint_id": complaint_id, "updated_at": updated_at, "title": "x"}


def by_page(pages: dict[int, httpx.Response]) -> object:
    """A respx side effect answering by the ``page`` query parameter."""
    return lambda request: pages[int(request.url.params["page"])]


def followup_row(followup_id: int, created_at: str) -> dict[str, object]:
    return {
        "id": followup_id,
        "user_type": "instansi",
        "institution_from_id": 627101,
        "content": "TL",
        "is_secret": 0,
        "created_at": created_at,
    }


def form_fields(request: httpx.Request) -> dict[str, str]:
    """The fields of a multipart/form-data body."""
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    return {
        name: value for name, value in re.findall(r'name="([^"]+)"\r\n\r\n(.*?)\r\n--', request.content.decode(), re.S)
    }


def test_walk_inbox_follows_pages_and_sets_malformed_rows_aside(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(INBOX).mock(
        side_effect=by_page(
            {
                1: page([row(1), row(2)], 1, f"{INBOX}?page=2"),
                2: page([{"complaint_id": 3, "updated_at": "kemarin"}, row(4)], 2, f"{INBOX}?page=3"),
                3: page([row(5, "01-11-2024 00:00:00")], 3, None),
            }
        )
    )
    since = datetime(2024, 10, 31, 10, 0, 0, 750_000, tzinfo=UTC)
    entries = list(client.walk_inbox(since))

    assert [entry.complaint_id for entry in entries] == [1, 2, 3, 4, 5]
    assert isinstance(entries[2], MalformedRecord) and "updated_at" in entries[2].reason
    assert entries[4] == InboxItem(5, datetime(2024, 10, 31, 17, 0, tzinfo=UTC))
    params = route.calls[0].request.url.params
    assert (params["updated_since"], params["per_page"], params["page"]) == ("31-10-2024 17:00:00", "100", "1")


def test_next_page_is_asked_of_our_own_base_url(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(INBOX).mock(
        side_effect=by_page(
            {1: page([row(1)], 1, "http://10.0.0.7/api/complaints/inbox?page=2"), 2: page([row(2)], 2, None)}
        )
    )
    assert len(list(client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC)))) == 2
    assert [call.request.url.host for call in route.calls] == ["splp.test", "splp.test"]


def test_requests_are_built_as_httpx_build_request_builds_them(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(INBOX).mock(side_effect=by_page({1: page([row(1)], 1, None)}))
    list(client.walk_inbox(datetime(2024, 10, 31, 1, 2, 3, tzinfo=UTC)))

    sent = route.calls.last.request
    with httpx.Client(base_url=BASE, headers={"Accept": "application/json"}) as plain:
        expected = plain.build_request(
            "GET", "/complaints/inbox", params={"updated_since": "31-10-2024 08:02:03", "per_page": 100, "page": 1}
        )
    assert sent.url == expected.url
    assert str(sent.url).endswith("/complaints/inbox?updated_since=31-10-2024+08%3A02%3A03&per_page=100&page=1")
    assert {name: sent.headers[name] for name in expected.headers} == dict(expected.headers)
    assert sent.headers["Authorization"] == "Bearer sim-api-key" and sent.headers["token"] == "{guid}"
    assert sent.extensions["timeout"] == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 5.0}


@pytest.mark.parametrize("base", ["https://gateway.test", "https://gateway.test:8443", "https://gateway.test/"])
def test_a_base_url_without_a_path_takes_the_paths_under_its_root(router: respx.MockRouter, base: str) -> None:
    """A gateway at its host's root: httpx prints such a base URL without its ``/``, which must not glue host and path."""
    origin = base.rstrip("/")
    inbox = router.get(f"{origin}/complaints/inbox").mock(side_effect=by_page({1: page([row(1)], 1, None)}))
    detail = router.get(f"{origin}/complaints/77/complaint").respond(404, json={"message": "not found"})
    with LaporClient(base, StaticKeyAuth("sim-api-key", "{guid}"), retry=RetryPolicy.no_wait()) as lapor:
        assert len(list(lapor.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC)))) == 1
        with pytest.raises(ItemRejectedError):
            lapor.fetch_complaint(77)
    assert inbox.called and detail.called


def test_cookies_a_server_sets_are_neither_kept_nor_sent(router: respx.MockRouter, client: LaporClient) -> None:
    detail = f"{BASE}/complaints/77/complaint"
    route = router.get(detail).respond(
        404, json={"message": "not found"}, headers={"Set-Cookie": "session=abc; Path=/"}
    )
    for _ in range(2):
        with pytest.raises(ItemRejectedError):
            client.fetch_complaint(77)
    assert [call.request.headers.get("Cookie") for call in route.calls] == [None, None]


def test_repeating_next_page_url_stops_the_run(router: respx.MockRouter, client: LaporClient) -> None:
    router.get(INBOX).mock(
        side_effect=by_page({1: page([row(1)], 1, f"{INBOX}?page=2"), 2: page([row(2)], 2, f"{INBOX}?page=2")})
    )
    walk = client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC))
    assert [next(walk).complaint_id, next(walk).complaint_id] == [1, 2]  # pages already read stay usable
    with pytest.raises(RunStoppingError, match="pagination loop"):
        next(walk)


def test_a_walk_longer_than_max_pages_stops_the_run(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(INBOX).mock(
        side_effect=lambda request: page(
            [row(1)], int(request.url.params["page"]), f"{INBOX}?page={int(request.url.params['page']) + 1}"
        )
    )
    with pytest.raises(RunStoppingError, match="more than 5 pages"):
        list(client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC)))
    assert route.call_count == 5


def test_html_200_on_a_get_is_retried(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(INBOX).mock(
        side_effect=[
            httpx.Response(200, text=HTML),
            httpx.Response(200, json={"results": None}),
            page([row(1)], 1, None),
        ]
    )
    assert len(list(client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC)))) == 1
    assert route.call_count == 3


def test_get_retries_stop_at_the_attempt_cap(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(INBOX).respond(502, text=HTML)
    with pytest.raises(TransientError) as caught:
        list(client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC)))
    assert route.call_count == 5 and caught.value.status == 502


def test_get_honours_retry_after(router: respx.MockRouter) -> None:
    sleeps: list[float] = []
    route = router.get(f"{BASE}/categories").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "4"}), httpx.Response(200, json={"results": []})]
    )
    with LaporClient(BASE, StaticKeyAuth("k", "t"), retry=RetryPolicy(sleep=sleeps.append)) as client:
        assert client.list_categories() == []
    assert route.call_count == 2 and sleeps == [4.0]


DETAIL_77 = {
    "complaint_id": 77,
    "status_code": 2,
    "disposition_id": 627101,
    "is_anonymous": 1,
    "is_secret": 0,
    "created_at": "30-10-2024 08:00:00",
    "updated_at": "31-10-2024 08:00:00",
    "user": {"name": "Fiktif"},
    "status_logs": [{"status_code": 2, "status_name": "Dalam Proses", "timestamp": "31-10-2024 08:00:00"}],
}


def test_fetch_complaint_reads_detail_and_every_followup_page(router: respx.MockRouter, client: LaporClient) -> None:
    router.get(f"{BASE}/complaints/77/complaint").respond(json={"results": {"data": DETAIL_77, "data_logs": []}})
    followups = f"{BASE}/complaints/77/followups"
    router.get(followups).mock(
        side_effect=by_page(
            {
                1: page([followup_row(12, "31-10-2024 08:00:00")], 1, f"{followups}?page=2"),
                2: page([followup_row(11, "31-10-2024 08:00:00"), followup_row(10, "30-10-2024 09:00:00")], 2, None),
            }
        )
    )
    snapshot = client.fetch_complaint(77)

    assert snapshot.complaint.reporter is None and snapshot.complaint.disposition_id == 627101
    assert [entry.status_code for entry in snapshot.status_log] == [2]
    assert [entry.national_id for entry in snapshot.thread] == [10, 11, 12]


def test_a_detail_showing_the_updated_at_we_hold_reads_no_followups(
    router: respx.MockRouter, client: LaporClient
) -> None:
    complaint = DETAIL_77 | {"complaint_id": 78}
    router.get(f"{BASE}/complaints/78/complaint").respond(json={"results": {"data": complaint, "data_logs": []}})
    followups = router.get(f"{BASE}/complaints/78/followups").mock(
        return_value=page([followup_row(12, "31-10-2024 08:00:00")], 1, None)
    )
    held = datetime(2024, 10, 31, 1, 0, tzinfo=UTC)  # 08:00 WIB

    unchanged = client.fetch_complaint(78, unchanged_since=held)
    changed = client.fetch_complaint(78, unchanged_since=held - timedelta(seconds=1))

    assert (unchanged.thread, unchanged.requests, followups.call_count) == (None, 1, 1)
    assert changed.thread is not None and [e.national_id for e in changed.thread] == [12]
    assert changed.requests == 2  # the detail and one page of follow-ups


def test_walk_inbox_reports_its_pages_totals_and_unreadable_rows(router: respx.MockRouter, client: LaporClient) -> None:
    router.get(INBOX).mock(
        side_effect=by_page(
            {
                1: page([row(1), {"complaint_id": 2, "updated_at": "kemarin"}], 1, f"{INBOX}?page=2"),
                2: page([row(3)], 2, None),
            }
        )
    )
    report = InboxWalkReport()

    assert len(list(client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC), report))) == 3
    assert report == InboxWalkReport(pages=2, totals=[99, 99], unreadable=1)


def test_unknown_complaint_is_rejected_without_retry(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.get(f"{BASE}/complaints/404/complaint").respond(404, json={"message": "Laporan tidak ditemukan"})
    with pytest.raises(ItemRejectedError, match="Laporan tidak ditemukan"):
        client.fetch_complaint(404)
    assert route.call_count == 1


def stored_followup(content: str) -> dict[str, object]:
    return {
        "results": {
            "data": {
                "id": 501,
                "complaint_id": 77,
                "user_type": "instansi",
                "institution_from_id": 627101,
                "content": content,
                "rating": 0,
                "is_secret": 1,
                "created_at": "01-11-2024 10:00:00",
            }
        }
    }


def test_post_followup_sends_the_contract_form(router: respx.MockRouter, client: LaporClient) -> None:
    content = "[LS-0123456789] Jalan sudah ditambal 😊\nTerima kasih"
    route = router.post(FOLLOWUP_ADD).respond(json=stored_followup(content))
    entry = client.post_followup(77, institution_id=627101, content=content, is_secret=True)

    assert form_fields(route.calls.last.request) == {
        "complaint_id": "77",
        "institution_from_id": "627101",
        "content": content,
        "template_code": "followup",
        "rating": "0",
        "is_secret": "1",
    }
    assert (entry.national_id, entry.author_type, entry.is_secret) == (501, AuthorType.INSTITUTION, True)
    assert entry.created_at == datetime(2024, 11, 1, 3, 0, tzinfo=UTC)


class _ChunkRecorder(httpx.BaseTransport):
    """A transport keeping each request body as the pieces the connection would write to the socket one by one."""

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.chunks: list[bytes] = []
        self.request: httpx.Request | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        self.chunks, self.request = list(request.stream), request
        return self.answer


def test_post_followup_sends_the_form_as_one_body() -> None:
    content = "Jalan sudah ditambal"
    recorder = _ChunkRecorder(httpx.Response(200, json=stored_followup(content)))
    auth = StaticKeyAuth("sim-api-key", "{guid}")
    with LaporClient(BASE, auth, retry=RetryPolicy.no_wait(), transport=recorder) as client:
        client.post_followup(77, institution_id=627101, content=content, is_secret=True)

    assert recorder.request is not None and len(recorder.chunks) == 1  # one socket write, not one per part
    body = recorder.chunks[0]
    assert recorder.request.headers["Content-Length"] == str(len(body))
    sent = httpx.Request("POST", FOLLOWUP_ADD, headers=recorder.request.headers, content=body)
    assert form_fields(sent) == {
        "complaint_id": "77",
        "institution_from_id": "627101",
        "content": content,
        "template_code": "followup",
        "rating": "0",
        "is_secret": "1",
    }


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(502, text=HTML),
        httpx.Response(504, text=HTML),
        httpx.Response(500, json={"message": "Server Error"}),
        httpx.Response(200, text=HTML),
    ],
)
def test_an_ambiguous_followup_post_is_never_resent(
    router: respx.MockRouter, client: LaporClient, failure: object
) -> None:
    route = router.post(FOLLOWUP_ADD).mock(side_effect=[failure, httpx.Response(200, json=stored_followup("x"))])
    with pytest.raises(AmbiguousWriteError):
        client.post_followup(77, institution_id=627101, content="x", is_secret=False)
    assert route.call_count == 1


def test_an_unreadable_post_answer_is_ambiguous(router: respx.MockRouter, client: LaporClient) -> None:
    router.post(FOLLOWUP_ADD).respond(json={"results": {"data": {"id": "?"}}})
    with pytest.raises(AmbiguousWriteError, match="answer is unreadable"):
        client.post_followup(77, institution_id=627101, content="x", is_secret=False)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(503, headers={"Retry-After": "1"}, text=HTML),
    ],
)
def test_a_followup_post_that_surely_did_not_arrive_is_retried(
    router: respx.MockRouter, client: LaporClient, failure: object
) -> None:
    route = router.post(FOLLOWUP_ADD).mock(side_effect=[failure, httpx.Response(200, json=stored_followup("x"))])
    assert client.post_followup(77, institution_id=627101, content="x", is_secret=False).national_id == 501
    assert route.call_count == 2
    assert form_fields(route.calls[0].request) == form_fields(route.calls[1].request)


def test_set_status_sends_json_and_reports_a_refusal(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.post(f"{BASE}/complaints/process/77/status").mock(
        side_effect=[
            httpx.Response(200, json={"results": {"status_code": 3}}),
            httpx.Response(422, json={"message": "Belum ada tindak lanjut"}),
        ]
    )
    client.set_status(77, status_code=3, note="Selesai ditangani")
    with pytest.raises(ItemRejectedError, match="Belum ada tindak lanjut"):
        client.set_status(77, status_code=3, note="Selesai ditangani")
    assert json.loads(route.calls[0].request.content) == {"status_code": 3, "note": "Selesai ditangani"}
    assert route.call_count == 2


def test_403_on_a_write_rejects_that_item_only(router: respx.MockRouter, client: LaporClient) -> None:
    # CONTRACT §5: 403 on a write means the complaint is no longer dispositioned to us.
    router.post(f"{BASE}/complaints/process/77/status").respond(403, json={"message": "Bukan disposisi Anda"})
    with pytest.raises(ItemRejectedError, match="Bukan disposisi Anda"):
        client.set_status(77, status_code=2, note="x")


def test_403_on_a_read_stops_the_run(router: respx.MockRouter, client: LaporClient) -> None:
    router.get(f"{BASE}/complaints/77/complaint").respond(403, json={"message": "Forbidden"})
    with pytest.raises(RunStoppingError, match="Forbidden"):
        client.fetch_complaint(77)


def test_request_reject_bodies(router: respx.MockRouter, client: LaporClient) -> None:
    route = router.post(f"{BASE}/complaints/process/77/reject").respond(json={"results": {"is_request": 1}})
    client.request_reject(77, not_authority=True, target_institution_id=9001, reason="Tindak pidana: wewenang Polda")
    client.request_reject(77, not_authority=False, target_institution_id=None, reason="Data dukung kurang")

    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies == [
        {"is_request": 1, "reason": 9001, "reason_description": "Tindak pidana: wewenang Polda", "not_authority": 1},
        {"is_request": 1, "reason": 0, "reason_description": "Data dukung kurang", "not_authority": 0},
    ]
    with pytest.raises(ValueError, match="target institution"):
        client.request_reject(77, not_authority=True, target_institution_id=None, reason="?")


def test_list_institutions_walks_every_page(router: respx.MockRouter, client: LaporClient) -> None:
    url = f"{BASE}/institutions"
    router.get(url).mock(
        side_effect=by_page(
            {
                1: page([{"id": 6271, "name": "Pemerintah Kota Palangka Raya", "parent_id": None}], 1, f"{url}?page=2"),
                2: page(
                    [
                        {
                            "id": 627110,
                            "name": "Dinas Komunikasi, Informatika, Statistik dan Persandian",
                            "parent_id": 6271,
                        }
                    ],
                    2,
                    None,
                ),
            }
        )
    )
    assert [(institution.id, institution.parent_id) for institution in client.list_institutions()] == [
        (6271, None),
        (627110, 6271),
    ]


def test_per_page_is_bounded() -> None:
    with pytest.raises(ValueError, match="per_page"):
        LaporClient(BASE, StaticKeyAuth("k", "t"), per_page=101)


# -- a deployment's own paths and parameters, from settings (CONTRACT §7 G7, G8, G9) ----------------------


def variant_client(**changes: object) -> LaporClient:
    endpoints = NationalEndpoints(**VARIANT_ENDPOINTS)
    settings = client_settings(**({"http_timeout_seconds": 20.0, "endpoints": endpoints} | changes))
    return LaporClient.from_settings(settings, retry=RetryPolicy.no_wait())


def test_a_deployment_with_variant_paths_and_page_size_is_called_where_its_settings_say(
    router: respx.MockRouter,
) -> None:
    inbox = router.get(f"{BASE}/complaints/inbox-lmw").respond(200, json=page([row(77)], 1, None).json())
    detail = router.get(f"{BASE}/complaints/77/complaint-lmw").respond(json={"results": {"data": DETAIL_77}})
    followups = router.get(f"{BASE}/complaints/77/followups-lmw").respond(200, json=page([], 1, None).json())
    add = router.post(f"{BASE}/complaints/followup/add-lmw").respond(json=stored_followup("TL"))
    status = router.post(f"{BASE}/complaints/process-lmw/77/status").respond(json={"results": {}})
    reject = router.post(f"{BASE}/complaints/process-lmw/77/reject").respond(json={"results": {}})
    institutions = router.get(f"{BASE}/institutions-lmw").respond(
        200, json=page([{"id": 6271, "name": "Kota", "parent_id": None}], 1, None).json()
    )
    categories = router.get(f"{BASE}/categories-lmw").respond(json={"results": [{"id": 1, "name": "A"}]})

    with variant_client(per_page=50) as client:
        assert [item.complaint_id for item in client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC))] == [77]
        assert client.fetch_complaint(77).thread == ()
        client.post_followup(77, institution_id=627101, content="TL", is_secret=True)
        client.set_status(77, status_code=3, note="selesai")
        client.request_reject(77, not_authority=False, target_institution_id=None, reason="data kurang")
        assert [i.id for i in client.list_institutions()] == [6271]
        assert [c.id for c in client.list_categories()] == [1]

    for route in (inbox, detail, followups, add, status, reject, institutions, categories):
        assert route.call_count == 1
    params = inbox.calls.last.request.url.params
    assert (params["page_size"], params["page"]) == ("50", "1") and "per_page" not in params
    assert "user_id" not in form_fields(add.calls.last.request)  # extras are omitted unless configured


def test_the_page_parameter_is_a_setting_and_read_back_from_next_page_url(router: respx.MockRouter) -> None:
    url = f"{BASE}/institutions-lmw"
    pages = {
        "1": page([{"id": 6271, "name": "Kota", "parent_id": None}], 1, f"{url}?halaman=2"),
        "2": page([{"id": 627110, "name": "Dinas", "parent_id": 6271}], 2, None),
    }
    route = router.get(url).mock(side_effect=lambda request: pages[request.url.params["halaman"]])

    with variant_client(endpoints=NationalEndpoints(**VARIANT_ENDPOINTS, page_param="halaman")) as client:
        assert [i.id for i in client.list_institutions()] == [6271, 627110]

    assert route.call_count == 2


def test_followup_posts_carry_the_configured_extra_fields(router: respx.MockRouter) -> None:
    add = router.post(f"{BASE}/complaints/followup/add-lmw").respond(json=stored_followup("TL"))

    with variant_client(followup_user_id="9001", followup_info_disposition="Ditindaklanjuti OPD") as client:
        client.post_followup(77, institution_id=627101, content="TL", is_secret=True)

    fields = form_fields(add.calls.last.request)
    assert (fields["user_id"], fields["info_disposition"]) == ("9001", "Ditindaklanjuti OPD")
    assert (fields["complaint_id"], fields["content"], fields["template_code"]) == ("77", "TL", "followup")


def test_endpoints_given_as_a_mapping_are_validated_naming_the_key() -> None:
    with pytest.raises(ConfigurationError, match="^LAPOR_SYNC_ENDPOINTS__REJECT: must hold {complaint_id}") as refused:
        variant_client(endpoints={"reject": "/reject"})

    assert "\n" not in str(refused.value)
