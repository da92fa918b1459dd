"""Settings from arguments, environment and a TOML file; one-line errors; masking for display."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lapor_sync.config.settings import PRODUCTION_BASE_URL, Settings, load_settings, mask_url, require_national
from lapor_sync.domain.errors import ConfigurationError

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/conftest.py


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lapor-sync.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # private, so it may hold secrets (tests/integration/test_config_secrets.py)
    return path


def test_defaults() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite:///lapor-sync.db"
    assert settings.api_base_url == PRODUCTION_BASE_URL == "https://api-splp.layanan.go.id/lapor/3.0.0"
    assert (settings.auth_mode, settings.auth_header_name) == ("static", "Authorization")
    assert settings.api_key is None and settings.institution_id is None and settings.mapping_file is None
    assert settings.initial_since == datetime(2023, 12, 31, 17, 0, tzinfo=UTC)  # 2024-01-01 00:00 WIB
    assert settings.initial_since.tzinfo is UTC
    assert (settings.per_page, settings.overlap_seconds, settings.http_timeout_seconds) == (100, 300, 30.0)
    assert (settings.max_push_attempts, settings.open_case_recheck_seconds) == (8, 3600)
    assert set(settings.value_sources().values()) == {"default"}


def test_from_environment_with_names_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_AUTH_MODE", "oauth2")
    monkeypatch.setenv("lapor_sync_per_page", "25")
    monkeypatch.setenv("LAPOR_SYNC_API_KEY", "sim-api-key")
    monkeypatch.setenv("LAPOR_SYNC_INSTITUTION_ID", "6271")
    monkeypatch.setenv("LAPOR_SYNC_MAPPING_FILE", "/etc/lapor-sync/city.toml")
    monkeypatch.setenv("LAPOR_SYNC_OAUTH_TOKEN_URL", "")  # empty counts as unset

    settings = load_settings()

    assert (settings.auth_mode, settings.per_page, settings.institution_id) == ("oauth2", 25, 6271)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sim-api-key"
    assert settings.mapping_file == Path("/etc/lapor-sync/city.toml")
    assert settings.oauth_token_url is None
    assert settings.value_sources()["per_page"] == "env"


def test_from_toml_file(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'api_base_url = "http://127.0.0.1:8765/lapor/3.0.0/"\n'
        "institution_id = 6271\n"
        "initial_since = 2024-03-01T00:00:00+07:00\n"
        "overlap_seconds = 600\n",
    )

    settings = load_settings(path)

    assert settings.api_base_url == "http://127.0.0.1:8765/lapor/3.0.0"  # trailing slash dropped
    assert (settings.institution_id, settings.overlap_seconds) == (6271, 600)
    assert settings.initial_since == datetime(2024, 2, 29, 17, 0, tzinfo=UTC)
    assert settings.value_sources()["overlap_seconds"] == "file"
    assert settings.value_sources()["per_page"] == "default"


def test_environment_overrides_file_and_arguments_override_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, 'per_page = 50\nauth_mode = "oauth2"\nmax_push_attempts = 3\n')
    monkeypatch.setenv("LAPOR_SYNC_PER_PAGE", "20")
    monkeypatch.setenv("LAPOR_SYNC_MAX_PUSH_ATTEMPTS", "4")

    from_env = Settings.load(path)
    from_argument = Settings.load(path, max_push_attempts=5)

    assert (from_env.per_page, from_env.auth_mode, from_env.max_push_attempts) == (20, "oauth2", 4)
    assert from_argument.max_push_attempts == 5
    sources = from_argument.value_sources()
    assert (sources["per_page"], sources["auth_mode"], sources["max_push_attempts"]) == ("env", "file", "init")


def test_wrong_auth_mode_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_AUTH_MODE", "basic")

    with pytest.raises(ConfigurationError) as refused:
        load_settings()

    assert str(refused.value) == "LAPOR_SYNC_AUTH_MODE: must be 'static' or 'oauth2', got 'basic'"


def test_several_wrong_settings_stay_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, "per_page = 500\ninitial_since = 2024-01-01T00:00:00\n")
    monkeypatch.setenv("LAPOR_SYNC_HTTP_TIMEOUT_SECONDS", "soon")

    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)

    message = str(refused.value)
    assert "\n" not in message
    assert "LAPOR_SYNC_PER_PAGE: must be less than or equal to 100, got 500" in message
    assert "LAPOR_SYNC_INITIAL_SINCE: must have timezone info" in message  # naive datetimes are refused
    assert "LAPOR_SYNC_HTTP_TIMEOUT_SECONDS: must be a valid number" in message


def test_errors_never_echo_secrets_or_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, "api_key = 987654321\n")
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", "user:hunter2@db.example")

    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)

    message = str(refused.value)
    assert "LAPOR_SYNC_API_KEY: must be a valid string" in message
    assert "LAPOR_SYNC_DATABASE_URL: must be a database URL" in message
    assert "987654321" not in message and "hunter2" not in message


def test_unknown_key_and_bad_syntax_in_the_file_are_named(tmp_path: Path) -> None:
    unknown = _config(tmp_path, "per_page = 10\ncolour = 'red'\n")
    with pytest.raises(ConfigurationError, match=rf"^unknown setting 'colour' in {unknown}$"):
        load_settings(unknown)

    broken = _config(tmp_path, "per_page = 10\nauth_mode = oauth2\n")
    with pytest.raises(ConfigurationError, match=rf"^{broken}:2: TOML syntax error: "):
        load_settings(broken)


def test_require_national_in_static_mode_names_each_missing_variable() -> None:
    with pytest.raises(ConfigurationError) as refused:
        require_national(Settings(api_token="{00000000-0000-4000-8000-000000006271}"))

    assert str(refused.value) == (
        "cannot reach the national platform in auth mode 'static': set LAPOR_SYNC_API_KEY, LAPOR_SYNC_INSTITUTION_ID"
    )


def test_require_national_in_oauth2_mode_also_needs_the_client_credentials() -> None:
    settings = Settings(
        auth_mode="oauth2", api_key="sim-api-key", api_token="{guid}", institution_id=6271, oauth_client_secret=""
    )

    with pytest.raises(ConfigurationError) as refused:
        require_national(settings)

    assert str(refused.value).endswith(
        "set LAPOR_SYNC_OAUTH_TOKEN_URL, LAPOR_SYNC_OAUTH_CLIENT_ID, LAPOR_SYNC_OAUTH_CLIENT_SECRET"
    )


def test_require_national_passes_when_everything_is_set() -> None:
    require_national(
        Settings(
            auth_mode="oauth2",
            api_key="sim-api-key",
            api_token="{guid}",
            institution_id=6271,
            oauth_token_url="http://127.0.0.1:8765/oauth2/token",
            oauth_client_id="sim-client",
            oauth_client_secret="sim-secret",
        )
    )


def test_masked_hides_secrets_and_database_passwords() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://lapor:s3cret-pw@127.0.0.1:5432/test",
        api_key="sim-api-key",
        api_token="{00000000-0000-4000-8000-000000006271}",
        oauth_client_secret="sim-secret",
    )

    shown = settings.masked()

    assert shown["database_url"] == "postgresql+psycopg://lapor:***@127.0.0.1:5432/test"
    assert shown["api_key"] == shown["api_token"] == shown["oauth_client_secret"] == "********"
    assert shown["oauth_client_id"] == shown["institution_id"] == "(not set)"
    assert shown["initial_since"] == "2024-01-01T00:00:00+07:00"  # displayed in WIB
    assert shown.keys() == Settings.model_fields.keys()
    text = repr(shown)
    assert "s3cret-pw" not in text and "sim-api-key" not in text and "sim-secret" not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("postgresql://host/db?user=u&password=pw&ssl=1", "postgresql://host/db?user=u&password=***&ssl=1"),
        ("sqlite:///lapor-sync.db", "sqlite:///lapor-sync.db"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
