"""LaporClient's master data on respx: paging by ``page_size``, malformed rows set aside, failures refused (G8)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.domain.errors import RunStoppingError, TransientError
from lapor_sync.domain.masters import MasterInstitution, ReplyTemplate, UnreadableRow
from tests.support.national import BASE

INSTITUTIONS = f"{BASE}{NationalEndpoints().masters_institutions}"
TEMPLATES = f"{BASE}{NationalEndpoints().masters_templates}"


@pytest.fixture
def client() -> Iterator[LaporClient]:
    with LaporClient(BASE, StaticKeyAuth("sim-api-key", "{guid}"), retry=RetryPolicy.no_wait(), max_pages=5) as lapor:
        yield lapor


def page(rows: list[object], number: int, last: int, url: str) -> httpx.Response:
    """A Laravel paginator answer of a master list, its page links carrying ``page_size``."""
    next_url = f"{url}?page_size=1000&page={number + 1}" if number < last else None
    body = {"current_page": number, "per_page": 1000, "last_page": last, "next_page_url": next_url, "data": rows}
    return httpx.Response(200, json={"results": body})


def test_institutions_are_read_page_by_page_with_page_size(router: respx.MockRouter, client: LaporClient) -> None:
    pages = {
        1: page([{"id": 6271, "name": "Pemerintah Kota Palangka Raya"}], 1, 2, INSTITUTIONS),
        2: page([{"id": "9001", "name": "Kepolisian Daerah Kalimantan Tengah"}], 2, 2, INSTITUTIONS),
    }
    route = router.get(INSTITUTIONS).mock(side_effect=lambda request: pages[int(request.url.params["page"])])

    found = client.list_master_institutions()

    assert found.rows == (
        MasterInstitution(6271, "Pemerintah Kota Palangka Raya"),
        MasterInstitution(9001, "Kepolisian Daerah Kalimantan Tengah"),
    )
    assert found.unreadable == ()
    sent = [dict(call.request.url.params) for call in route.calls]
    assert sent == [{"page_size": "1000", "page": "1"}, {"page_size": "1000", "page": "2"}]
    assert all("per_page" not in params for params in sent)


def test_templates_read_code_name_or_title_and_content(router: respx.MockRouter, client: LaporClient) -> None:
    rows = [
        {"id": 1, "template_code": "followup", "name": "Tindak lanjut", "content": "Sedang kami proses."},
        {"template_code": "selesai", "title": "Selesai", "content": "Sudah selesai."},
    ]
    router.get(TEMPLATES).mock(return_value=page(rows, 1, 1, TEMPLATES))

    found = client.list_reply_templates()

    assert found.rows == (
        ReplyTemplate("followup", "Tindak lanjut", "Sedang kami proses.", national_id=1),
        ReplyTemplate("selesai", "Selesai", "Sudah selesai."),
    )


def test_malformed_rows_are_set_aside_with_their_key_and_reason_never_their_values(
    router: respx.MockRouter, client: LaporClient
) -> None:
    rows = [
        {"id": 627101, "name": "Dinas Pekerjaan Umum dan Penataan Ruang"},
        {"id": 627102, "name": "   "},  # blank name: its id is known, the row is not
        {"id": "62x", "name": "Rahasia Sekali"},  # no readable id
        {"id": 627103, "name": "Dinas Perhubungan"},
        {"id": 627103, "name": "Dinas Perhubungan Kota"},  # twice, differently: neither copy is trusted
        {"id": 627104, "name": "Dinas Sosial"},
        {"id": 627104, "name": "Dinas Sosial"},  # twice alike: once
        "not an object",
    ]
    router.get(INSTITUTIONS).mock(return_value=page(rows, 1, 1, INSTITUTIONS))

    found = client.list_master_institutions()

    assert [row.id for row in found.rows] == [627101, 627104]
    assert [unreadable.key for unreadable in found.unreadable] == ["627102", "627103", None, None]
    assert found.unreadable[0] == UnreadableRow("627102", "institutions.1.name: must not be blank")
    assert "listed twice" in found.unreadable[1].reason
    assert all("Rahasia" not in unreadable.reason for unreadable in found.unreadable)


def test_a_template_code_must_be_a_string(router: respx.MockRouter, client: LaporClient) -> None:
    rows = [{"template_code": 7, "name": "x", "content": "y"}, {"template_code": "ok", "content": ""}]
    router.get(TEMPLATES).mock(return_value=page(rows, 1, 1, TEMPLATES))

    found = client.list_reply_templates()

    assert found.rows == ()
    assert [(u.key, u.reason) for u in found.unreadable] == [
        ("ok", "templates.1.content: must not be blank"),
        (None, "templates.0.template_code: expected a string"),
    ]


def test_a_list_that_fails_on_a_later_page_is_refused_whole(router: respx.MockRouter, client: LaporClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            return page([{"id": 1, "name": "Admin"}], 1, 2, INSTITUTIONS)
        return httpx.Response(503, text="<html>down</html>")

    router.get(INSTITUTIONS).mock(side_effect=answer)

    with pytest.raises(TransientError):
        client.list_master_institutions()


def test_refused_credentials_stop(router: respx.MockRouter, client: LaporClient) -> None:
    router.get(TEMPLATES).mock(return_value=httpx.Response(401, json={"message": "Unauthenticated."}))

    with pytest.raises(RunStoppingError):
        client.list_reply_templates()
