"""The national side's settings: endpoints from the TOML file and the environment, their validation, the new auth
modes' settings and what `config show` prints of them (CONTRACT §7 G5-G9)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from lapor_sync.adapters.national import LaporClient, RetryPolicy
from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.config.settings import Settings, load_settings, require_national
from lapor_sync.domain.errors import ConfigurationError
from tests.support.cli import cli_env, invoke, invoke_json
from tests.support.national import BASE, client_settings
from tests.support.splp import splp_key

__all__ = ["cli_env"]  # fixture

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/conftest.py

LMW = {  # a deployment with its own variants of every path (G7) and page_size (G8)
    "inbox": "/complaints/inbox-lmw",
    "complaint_detail": "/complaints/{complaint_id}/complaint-lmw",
    "followups": "/complaints/{complaint_id}/followups-lmw",
    "followup_add": "/complaints/followup/add-lmw",
    "status": "/complaints/process-lmw/{complaint_id}/status",
    "reject": "/complaints/process-lmw/{complaint_id}/reject",
    "institutions": "/institutions-lmw",
    "categories": "/categories-lmw",
    "page_size_param": "page_size",
}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lapor-sync.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- endpoints from the TOML file and the environment ---------------------------------------------------


def test_the_contracts_paths_are_the_defaults() -> None:
    endpoints = load_settings().endpoints

    assert endpoints == NationalEndpoints()
    assert (endpoints.inbox, endpoints.complaint_detail, endpoints.page_size_param) == (
        "/complaints/inbox",
        "/complaints/{complaint_id}/complaint",
        "per_page",
    )
    assert (endpoints.masters_institutions, endpoints.masters_templates) == (
        "/masters/institutions/external",
        "/masters/templates",
    )


def test_the_national_endpoints_table_of_the_toml_file_sets_them_each_with_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(
        tmp_path,
        '[national.endpoints]\ncomplaint_detail = "/complaints/{complaint_id}/complaint-lmw"\n'
        'page_size_param = "page_size"\ninbox = "/from-the-file"\n',
    )
    monkeypatch.setenv("LAPOR_SYNC_ENDPOINTS__INBOX", "/complaints/inbox-lmw")

    settings = load_settings(config)

    assert settings.endpoints.complaint_detail == "/complaints/{complaint_id}/complaint-lmw"
    assert settings.endpoints.page_size_param == "page_size"
    assert settings.endpoints.inbox == "/complaints/inbox-lmw"  # the environment overrides the file
    sources = settings.value_sources()
    assert sources["endpoints.complaint_detail"] == "file" and sources["endpoints.inbox"] == "env"
    assert sources["endpoints.followups"] == "default"


def test_one_json_variable_sets_several(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_ENDPOINTS", json.dumps(LMW))

    assert load_settings().endpoints == NationalEndpoints(**LMW)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INBOX", "complaints/inbox", "LAPOR_SYNC_ENDPOINTS__INBOX: must be a path starting with '/'"),
        ("COMPLAINT_DETAIL", "/complaints/{id}/complaint", "unknown placeholder {id}; the only placeholder is"),
        ("FOLLOWUPS", "/complaints/followups", "LAPOR_SYNC_ENDPOINTS__FOLLOWUPS: must hold {complaint_id}"),
        ("FOLLOWUP_ADD", "/complaints/{complaint_id}/add", "must not hold {complaint_id}: this call is not about one"),
        ("STATUS", "/complaints/{complaint_id/status", "unknown placeholder an unmatched '{' or '}'"),
        ("INBOX", "/complaints/inbox?per_page=5", "must be a path only: no query, fragment"),
        ("PAGE_SIZE_PARAM", "page size", "LAPOR_SYNC_ENDPOINTS__PAGE_SIZE_PARAM: must be a query parameter name"),
        ("NOPE", "/x", "unknown setting 'endpoints.nope'"),
    ],
)
def test_a_wrong_endpoint_is_one_line_naming_its_variable(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"LAPOR_SYNC_ENDPOINTS__{variable}", value)

    with pytest.raises(ConfigurationError) as refused:
        load_settings()

    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[national.endpoints]\nreject = "/reject"\n', "LAPOR_SYNC_ENDPOINTS__REJECT: must hold {complaint_id}"),
        ('[national.endpoints]\nmasters = "/m"\n', "unknown setting 'endpoints.masters'"),
        ('[national]\nendpoints = {}\nproxy = "x"\n', "unknown setting 'national.proxy'"),
        ('[endpoints]\ninbox = "/a"\n[national.endpoints]\ninbox = "/b"\n', "[national.endpoints] and endpoints both"),
    ],
)
def test_a_wrong_endpoints_table_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(_config(tmp_path, text))

    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_config_show_lists_every_endpoint_with_its_variable_and_source(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, '[national.endpoints]\ncomplaint_detail = "/complaints/{complaint_id}/complaint-lmw"\n')

    shown = invoke_json("--config", str(config), "config", "show")

    assert shown["endpoints.complaint_detail"] == {
        "value": "/complaints/{complaint_id}/complaint-lmw",
        "source": "file",
        "env": "LAPOR_SYNC_ENDPOINTS__COMPLAINT_DETAIL",
    }
    assert shown["endpoints.page_size_param"] == {
        "value": "per_page",
        "source": "default",
        "env": "LAPOR_SYNC_ENDPOINTS__PAGE_SIZE_PARAM",
    }
    assert "endpoints.masters_templates" in invoke("--config", str(config), "config", "show").stdout


# -- the auth modes' settings ------------------------------------------------------------------------


def test_splp_key_mode_needs_the_key_and_the_password_grant_its_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"api_key": "k", "api_token": "t", "institution_id": 6271}
    with pytest.raises(ConfigurationError, match=r"auth mode 'splp_key': set LAPOR_SYNC_SPLP_KEY$"):
        require_national(Settings(auth_mode="splp_key", **base))
    oauth = base | {"oauth_token_url": "https://splp.test/token", "oauth_client_id": "c", "oauth_client_secret": "s"}
    with pytest.raises(ConfigurationError, match="set LAPOR_SYNC_OAUTH_USERNAME, LAPOR_SYNC_OAUTH_PASSWORD$"):
        require_national(Settings(auth_mode="oauth2", oauth_grant_type="password", **oauth))
    require_national(Settings(auth_mode="oauth2", **oauth))  # client_credentials needs no owner


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OAUTH_GRANT_TYPE", "implicit", "LAPOR_SYNC_OAUTH_GRANT_TYPE: must be 'client_credentials' or 'password'"),
        ("SPLP_KEY_HEADER", "Authorization SPLP", "LAPOR_SYNC_SPLP_KEY_HEADER: must match"),
        ("OAUTH_TOKEN_HEADER", "X:Token", "LAPOR_SYNC_OAUTH_TOKEN_HEADER: must match"),
    ],
)
def test_wrong_auth_settings_are_one_line_naming_the_variable(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"LAPOR_SYNC_{variable}", value)

    with pytest.raises(ConfigurationError) as refused:
        load_settings()

    assert str(refused.value).startswith(message)


def test_config_show_shows_the_keys_claims_and_warnings_never_the_key(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = datetime.now(UTC) - timedelta(days=3)
    key = splp_key("SANDBOX", issued=issued)
    monkeypatch.setenv("LAPOR_SYNC_AUTH_MODE", "splp_key")
    monkeypatch.setenv("LAPOR_SYNC_SPLP_KEY", key)
    monkeypatch.setenv("LAPOR_SYNC_OAUTH_PASSWORD", "owner-password-9f2")

    shown = invoke_json("config", "show")
    table = invoke("config", "show")

    assert shown["splp_key"]["value"] == shown["oauth_password"]["value"] == "********"
    national = shown["national"]
    assert national["auth_mode"] == "splp_key" and national["base_url_kind"] == "production"
    assert list(national["headers"]) == ["Authorization", "AuthorizationSPLP", "token"]
    assert national["key_claims"] == {
        "keytype": "SANDBOX",
        "token_type": "apiKey",
        "issued_at": issued.replace(microsecond=0).isoformat(),
        "expires_at": None,
    }
    assert "is a SANDBOX key but LAPOR_SYNC_API_BASE_URL is the production API" in national["warnings"][0]
    assert table.exit_code == 0
    text = re.sub(r"\s+", " ", table.stdout)
    assert "SPLP key type │ SANDBOX" in text and "SPLP key expires │ (absent)" in text
    assert "warning: LAPOR_SYNC_SPLP_KEY is a SANDBOX key" in text and " WIB " in text
    for secret in (key, "owner-password-9f2"):
        assert secret not in table.output and secret not in json.dumps(shown)


# -- the client follows the settings (G7, G8, G9) --------------------------------------------------------


def lmw_client(**changes: object) -> LaporClient:
    settings = client_settings(**({"http_timeout_seconds": 20.0, "endpoints": NationalEndpoints(**LMW)} | changes))
    return LaporClient.from_settings(settings, retry=RetryPolicy.no_wait())


def paginated(rows: list[object], next_url: str | None = None) -> dict[str, object]:
    return {
        "results": {"current_page": 1, "per_page": 100, "last_page": 1, "total": len(rows), "next_page_url": next_url}
        | {"data": rows}
    }


DETAIL = {
    "complaint_id": 77,
    "status_code": 2,
    "disposition_id": 627101,
    "is_anonymous": 1,
    "is_secret": 0,
    "created_at": "30-10-2024 08:00:00",
    "updated_at": "31-10-2024 08:00:00",
    "status_logs": [],
}
STORED = {
    "id": 501,
    "complaint_id": 77,
    "user_type": "instansi",
    "institution_from_id": 627101,
    "content": "TL",
    "is_secret": 0,
    "created_at": "01-11-2024 10:00:00",
}


def form_fields(request: httpx.Request) -> dict[str, str]:
    return dict(re.findall(r'name="([^"]+)"\r\n\r\n(.*?)\r\n--', request.content.decode(), re.S))


def test_a_deployment_with_variant_paths_and_page_size_is_called_where_its_settings_say(
    router: respx.MockRouter,
) -> None:
    inbox = router.get(f"{BASE}/complaints/inbox-lmw").respond(
        json=paginated([{"complaint_id": 77, "updated_at": "31-10-2024 08:00:00"}])
    )
    detail = router.get(f"{BASE}/complaints/77/complaint-lmw").respond(json={"results": {"data": DETAIL}})
    followups = router.get(f"{BASE}/complaints/77/followups-lmw").respond(json=paginated([]))
    add = router.post(f"{BASE}/complaints/followup/add-lmw").respond(json={"results": {"data": STORED}})
    status = router.post(f"{BASE}/complaints/process-lmw/77/status").respond(json={"results": {}})
    reject = router.post(f"{BASE}/complaints/process-lmw/77/reject").respond(json={"results": {}})
    institutions = router.get(f"{BASE}/institutions-lmw").respond(
        json=paginated([{"id": 6271, "name": "Kota", "parent_id": None}])
    )
    categories = router.get(f"{BASE}/categories-lmw").respond(json={"results": [{"id": 1, "name": "A"}]})

    with lmw_client(per_page=50) as client:
        assert [item.complaint_id for item in client.walk_inbox(datetime(2024, 10, 31, tzinfo=UTC))] == [77]
        assert client.fetch_complaint(77).thread == ()
        client.post_followup(77, institution_id=627101, content="TL", is_secret=False)
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
        "1": paginated([{"id": 6271, "name": "Kota", "parent_id": None}], f"{url}?halaman=2"),
        "2": paginated([{"id": 627110, "name": "Dinas", "parent_id": 6271}]),
    }
    route = router.get(url).mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params["halaman"]])
    )

    with lmw_client(endpoints=NationalEndpoints(**LMW, page_param="halaman")) as client:
        assert [i.id for i in client.list_institutions()] == [6271, 627110]

    assert route.call_count == 2


def test_followup_posts_carry_the_configured_extra_fields(router: respx.MockRouter) -> None:
    add = router.post(f"{BASE}/complaints/followup/add-lmw").respond(json={"results": {"data": STORED}})

    with lmw_client(followup_user_id="9001", followup_info_disposition="Ditindaklanjuti OPD") as client:
        client.post_followup(77, institution_id=627101, content="TL", is_secret=False)

    fields = form_fields(add.calls.last.request)
    assert (fields["user_id"], fields["info_disposition"]) == ("9001", "Ditindaklanjuti OPD")
    assert fields["complaint_id"] == "77" and fields["content"] == "TL"


def test_followup_extras_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_FOLLOWUP_USER_ID", "9001")

    settings = load_settings()

    assert (settings.followup_user_id, settings.followup_info_disposition) == ("9001", None)


def test_endpoints_given_as_a_mapping_are_validated_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="^LAPOR_SYNC_ENDPOINTS__REJECT: must hold {complaint_id}") as refused:
        LaporClient.from_settings(client_settings(http_timeout_seconds=20.0, endpoints={"reject": "/reject"}))

    assert "\n" not in str(refused.value)


def test_the_secret_settings_of_the_new_modes_are_secrets() -> None:
    settings = Settings(splp_key=SecretStr("k"), oauth_password=SecretStr("p"))

    assert settings.masked()["splp_key"] == settings.masked()["oauth_password"] == "********"


def test_an_item_of_a_list_setting_is_named_by_the_lists_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_EXTRA_NON_WORKING_DAYS", '["2024-12-26", "x"]')

    with pytest.raises(ConfigurationError, match=r"^LAPOR_SYNC_EXTRA_NON_WORKING_DAYS: must be a valid date"):
        load_settings()
