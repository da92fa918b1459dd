"""Settings from arguments, environment and a TOML file; one-line errors naming the setting and quoting no
secret (database URLs and passwords included); masking for display."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lapor_sync.app import App
from lapor_sync.cli.app import main
from lapor_sync.config.endpoints import NationalEndpoints
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

    assert str(refused.value) == "LAPOR_SYNC_AUTH_MODE: must be 'static', 'splp_key' or 'oauth2', got 'basic'"


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
    endpoint_keys = {f"endpoints.{key}" for key in NationalEndpoints.model_fields}  # a table, shown key by key
    assert shown.keys() == (Settings.model_fields.keys() - {"endpoints"}) | endpoint_keys
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


# -- settings the composition root refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("foo://user:hunter2@db/city", "unknown kind of database"),
        ("mysql://user:hunter2@db/city", "driver is not installed"),
        ("postgresql://user:hunter2@db:notaport/city", "not a usable database URL"),
    ],
)
def test_review_an_unusable_database_url_is_a_configuration_error_without_its_password(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        App(Settings(database_url=url)).db  # noqa: B018 - building it is the test

    message = str(caught.value)
    assert message.startswith("LAPOR_SYNC_DATABASE_URL: ") and says in message
    assert "hunter2" not in message and "\n" not in message


def test_review_a_missing_mapping_file_names_its_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        App(Settings(mapping_file=tmp_path / "city.toml")).mapping  # noqa: B018

    assert str(caught.value) == f"LAPOR_SYNC_MAPPING_FILE: {tmp_path / 'city.toml'}: file not found"


# -- secrets: passwords with special characters, secrets that are not one line, database errors at start --

PASSWORD = "Pw-s3cret-db"
POSTGRES = os.environ.get("LAPOR_SYNC_TEST_POSTGRES_URL")  # read before ``clean_env`` removes it


def refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return str(caught.value)


@pytest.mark.parametrize(
    "password",
    [
        f"{PASSWORD}/x",
        f"{PASSWORD} x",
        f"{PASSWORD}?x",
        f"{PASSWORD}#x",
        f"{PASSWORD}:x",
        f"{PASSWORD}%40x",
        f"p@{PASSWORD}@x",
    ],
)
def test_review_a_password_is_masked_whatever_characters_it_holds(password: str) -> None:
    shown = mask_url(f"postgresql://lapor:{password}@db.internal:5432/lapor")

    assert shown == "postgresql://lapor:***@db.internal:5432/lapor"


def test_review_a_password_with_a_raw_at_sign_is_refused_without_quoting_any_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SQLAlchemy would take "ss-Pw-s3cret-db@db.internal" for the host, and the driver quote it.
    message = refused(monkeypatch, "LAPOR_SYNC_DATABASE_URL", f"postgresql://lapor:ab@ss-{PASSWORD}@db.internal/lapor")

    assert message.startswith("LAPOR_SYNC_DATABASE_URL: ") and "%40" in message
    assert PASSWORD not in message and "ss-" not in message


def test_review_a_percent_encoded_password_is_taken_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", f"postgresql://lapor:ab%40{PASSWORD}%3A%2F@db.internal/lapor")

    url = make_url(load_settings().database_url)

    assert (url.host, url.password) == ("db.internal", f"ab@{PASSWORD}:/")


@pytest.mark.parametrize("variable", ["LAPOR_SYNC_API_KEY", "LAPOR_SYNC_API_TOKEN", "LAPOR_SYNC_OAUTH_CLIENT_SECRET"])
def test_review_a_secret_set_with_its_trailing_newline_is_stripped(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # `env: valueFrom: secretKeyRef` of a secret made from a file keeps the file's newline.
    monkeypatch.setenv(variable, f"  {PASSWORD}\n")

    value = getattr(load_settings(), variable.removeprefix("LAPOR_SYNC_").lower())

    assert value.get_secret_value() == PASSWORD


@pytest.mark.parametrize("value", [f"{PASSWORD}\nX-Injected: 1", f"{PASSWORD}\x07", f"{PASSWORD}é"])
def test_review_a_secret_that_is_not_one_line_of_ascii_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    in_variable = refused(monkeypatch, "LAPOR_SYNC_API_KEY", value)
    monkeypatch.delenv("LAPOR_SYNC_API_KEY")
    secret_file = tmp_path / "api_key"
    secret_file.write_text(value, encoding="utf-8")
    in_file = refused(monkeypatch, "LAPOR_SYNC_API_KEY_FILE", str(secret_file))

    assert in_variable.startswith("LAPOR_SYNC_API_KEY: ")
    assert in_file.startswith("LAPOR_SYNC_API_KEY_FILE: ")
    assert PASSWORD not in in_variable + in_file


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the real entry point (``lapor-sync *args``); return its exit code and everything it printed."""
    monkeypatch.setattr(sys, "argv", ["lapor-sync", *args])
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as exited:
        main()
    printed = capsys.readouterr()
    return int(exited.value.code or 0), printed.out + printed.err


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://lapor:{PASSWORD}@127.0.0.1:{{port}}/lapor",  # nothing listens there
        f"postgresql://lapor:{PASSWORD}@127.0.0.1:{{port}}/lapor?no_such_option=1",  # refused by the driver itself
    ],
)
def test_review_a_database_that_cannot_be_used_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", url.format(port=closed_port()))

    code, printed = run_main(monkeypatch, capsys, "status")

    assert code == 2 and printed.startswith("error: LAPOR_SYNC_DATABASE_URL: cannot use the database: ")
    assert "Traceback" not in printed and PASSWORD not in printed and len(printed.strip().splitlines()) == 1


def test_review_a_database_name_that_does_not_exist_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not POSTGRES:
        pytest.skip("needs LAPOR_SYNC_TEST_POSTGRES_URL")
    url = make_url(POSTGRES).set(password=PASSWORD, database="no_such_lapor_sync_database")
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", url.render_as_string(hide_password=False))

    code, printed = run_main(monkeypatch, capsys, "status")

    assert code == 2 and "no_such_lapor_sync_database" in printed and PASSWORD not in printed
    assert "Traceback" not in printed


def test_review_settings_built_from_arguments_follow_the_same_rules() -> None:
    assert Settings(api_key=f"{PASSWORD}\n").api_key.get_secret_value() == PASSWORD


def test_an_unknown_variable_is_a_warning_with_did_you_mean_and_never_its_value(
    monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[], str]
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_API_KEYY", "kunci-rahasia-123")

    settings = load_settings()
    logged = log_lines()

    assert settings.api_key is None
    [line] = [json.loads(line) for line in logged.splitlines() if "API_KEYY" in line]
    assert line["level"] == "WARNING"
    assert line["message"] == (
        "LAPOR_SYNC_API_KEYY is not a lapor-sync variable and is ignored; did you mean LAPOR_SYNC_API_KEY?"
    )
    assert "kunci-rahasia-123" not in logged


@pytest.mark.parametrize("command", ["status", "db upgrade"])
@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("no-such-folder/lapor-sync.db", "the folder {tmp}/no-such-folder does not exist"),
        ("", "that is a folder, not a file"),
    ],
)
def test_a_database_file_that_cannot_be_opened_is_one_line_with_its_path_and_why(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    where: str,
    why: str,
) -> None:
    path = tmp_path / where if where else tmp_path
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", f"sqlite:///{path}")

    code, printed = run_main(monkeypatch, capsys, *command.split())

    assert code == 2 and "Traceback" not in printed
    assert printed.strip() == (
        "error: LAPOR_SYNC_DATABASE_URL: cannot use the database: unable to open database file: "
        f"{path}: {why.format(tmp=tmp_path)}"
    )
