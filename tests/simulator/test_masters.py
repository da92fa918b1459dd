"""The simulator's master data over loopback: institutions and reply templates paged by page_size (G8)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lapor_sync.simulator.catalog import INSTITUTIONS
from lapor_sync.simulator.masters import TEMPLATES
from tests.support.e2e import CREDENTIALS, small_world

HEADERS = {"Authorization": f"Bearer {CREDENTIALS.api_key}", "token": CREDENTIALS.app_token}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with small_world().serve() as base_url, httpx.Client(base_url=base_url, headers=HEADERS) as client:
        yield client


def test_institutions_are_paged_by_page_size_without_parent_id(http: httpx.Client) -> None:
    first = http.get("/masters/institutions/external", params={"page_size": 7}).json()["results"]

    assert first["total"] == len(INSTITUTIONS) and first["per_page"] == 7 and len(first["data"]) == 7
    assert "page_size=7" in first["next_page_url"] and "page=2" in first["next_page_url"]
    assert set(first["data"][0]) == {"id", "name"}
    rows, url = list(first["data"]), first["next_page_url"]
    while url:
        body = http.get(url).json()["results"]
        rows, url = rows + body["data"], body["next_page_url"]
    assert [row["id"] for row in rows] == sorted(INSTITUTIONS)


def test_templates_carry_their_code_and_a_large_page_size_is_cut(http: httpx.Client) -> None:
    body = http.get("/masters/templates", params={"page_size": 5000}).json()["results"]

    assert body["per_page"] == 1000 and body["next_page_url"] is None
    assert [row["template_code"] for row in body["data"]] == [t.template_code for t in TEMPLATES]
    assert {"followup", "selesai", "bukan_wewenang"} <= {row["template_code"] for row in body["data"]}
    assert all(row["content"] and row["name"] for row in body["data"])


def test_master_lists_need_credentials(http: httpx.Client) -> None:
    assert http.get("/masters/templates", headers={"Authorization": "Bearer wrong"}).status_code == 401
