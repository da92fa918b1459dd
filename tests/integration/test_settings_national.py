"""The national side's settings: endpoints from the TOML file and the environment, their validation, the new auth
modes' settings and what `config show` prints of them (CONTRACT §7 G5-G9)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.config.settings import Settings, load_settings, require_national
from lapor_sync.domain.errors import ConfigurationError
from tests.support.cli import cli_env, invoke, invoke_json
from tests.support.national import VARIANT_ENDPOINTS
from tests.support.splp import splp_key

__all__ = ["cli_env"]  # fixture

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/conftest.py


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
    monkeypatch.setenv("LAPOR_SYNC_ENDPOINTS", json.dumps(VARIANT_ENDPOINTS))

    assert load_settings().endpoints == NationalEndpoints(**VARIANT_ENDPOINTS)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ENDPOINTS__INBOX", "complaints/inbox", "LAPOR_SYNC_ENDPOINTS__INBOX: must be a path starting with '/'"),
        ("ENDPOINTS__COMPLAINT_DETAIL", "/complaints/{id}/complaint", "unknown placeholder {id}; the only placeholder"),
        ("ENDPOINTS__FOLLOWUPS", "/complaints/followups", "LAPOR_SYNC_ENDPOINTS__FOLLOWUPS: must hold {complaint_id}"),
        ("ENDPOINTS__FOLLOWUP_ADD", "/complaints/{complaint_id}/add", "must not hold {complaint_id}: this call is not"),
        ("ENDPOINTS__STATUS", "/complaints/{complaint_id/status", "unknown placeholder an unmatched '{' or '}'"),
        ("ENDPOINTS__INBOX", "/complaints/inbox?per_page=5", "must be a path only: no query, fragment"),
        ("ENDPOINTS__PAGE_SIZE_PARAM", "page size", "LAPOR_SYNC_ENDPOINTS__PAGE_SIZE_PARAM: must be a query parameter"),
        ("ENDPOINTS__NOPE", "/x", "unknown setting 'endpoints.nope'"),
        ("ENDPOINTS__PAGE_SIZE_PARAM", "page", "LAPOR_SYNC_ENDPOINTS__PAGE_SIZE_PARAM: 'page' is the page number's"),
        ("ENDPOINTS__MASTERS_PAGE_SIZE_PARAM", "page", "_MASTERS_PAGE_SIZE_PARAM: 'page' is the page number's"),
        ("ENDPOINTS__PAGE_PARAM", "updated_since", "LAPOR_SYNC_ENDPOINTS__PAGE_PARAM: 'updated_since' is the inbox's"),
        ("OAUTH_GRANT_TYPE", "implicit", "LAPOR_SYNC_OAUTH_GRANT_TYPE: must be 'client_credentials' or 'password'"),
        ("SPLP_KEY_HEADER", "Authorization SPLP", "LAPOR_SYNC_SPLP_KEY_HEADER: must match"),
        ("OAUTH_TOKEN_HEADER", "X:Token", "LAPOR_SYNC_OAUTH_TOKEN_HEADER: must match"),
    ],
)
def test_a_wrong_endpoint_or_auth_setting_is_one_line_naming_its_variable(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"LAPOR_SYNC_{variable}", value)

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


def test_followup_extras_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_FOLLOWUP_USER_ID", "9001")

    settings = load_settings()

    assert (settings.followup_user_id, settings.followup_info_disposition) == ("9001", None)


def test_the_secret_settings_of_the_new_modes_are_secrets() -> None:
    settings = Settings(splp_key=SecretStr("k"), oauth_password=SecretStr("p"))

    assert settings.masked()["splp_key"] == settings.masked()["oauth_password"] == "********"


def test_an_item_of_a_list_setting_is_named_by_the_lists_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_EXTRA_NON_WORKING_DAYS", '["2024-12-26", "x"]')

    with pytest.raises(ConfigurationError, match=r"^LAPOR_SYNC_EXTRA_NON_WORKING_DAYS: must be a valid date"):
        load_settings()


@pytest.mark.parametrize("variable", ["ENDPOINTS", "EXPORT_COLUMNS", "EXTRA_NON_WORKING_DAYS"])
def test_a_table_or_list_variable_that_is_not_json_is_one_line_naming_it(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"LAPOR_SYNC_{variable}", '{"inbox": "/complaints/inbox-lmw"')  # the closing brace lost

    with pytest.raises(ConfigurationError) as refused:
        load_settings()

    assert str(refused.value).startswith(f"LAPOR_SYNC_{variable}: not valid JSON")
    assert "\n" not in str(refused.value) and "inbox-lmw" not in str(refused.value)


def test_an_unknown_endpoint_from_the_environment_is_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_ENDPOINTS__NOPE", "/x")

    with pytest.raises(ConfigurationError) as refused:
        load_settings(_config(tmp_path, "institution_id = 6271\n"))

    assert str(refused.value) == "unknown setting 'endpoints.nope' (LAPOR_SYNC_ENDPOINTS__NOPE)"


def test_a_wrong_endpoint_in_the_json_variable_is_named_by_that_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_ENDPOINTS", '{"inbox": "complaints/inbox-lmw"}')

    with pytest.raises(ConfigurationError) as refused:
        load_settings()

    assert str(refused.value).startswith("LAPOR_SYNC_ENDPOINTS (inbox): must be a path starting with '/'")
