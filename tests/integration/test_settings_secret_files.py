"""Secrets from files named by LAPOR_SYNC_<NAME>_FILE (container secrets): reading, refusals, priority, display."""

from __future__ import annotations

from pathlib import Path

import pytest

from lapor_sync.config.settings import Settings, load_settings
from lapor_sync.config.sources import MAX_SECRET_FILE_BYTES
from lapor_sync.domain.errors import ConfigurationError
from tests.support.cli import cli_env, invoke, invoke_json

__all__ = ["cli_env"]  # fixture

SECRET = "file-secret-7c1d"


pytestmark = pytest.mark.usefixtures("clean_env")  # tests/conftest.py


def secret_file(tmp_path: Path, content: str | bytes, name: str = "secret") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def refusal(monkeypatch: pytest.MonkeyPatch, variable: str, path: Path | str) -> str:
    """Set ``variable`` to ``path``, load the settings, and return the ConfigurationError's message."""
    monkeypatch.setenv(variable, str(path))
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("setting", ["api_key", "api_token", "splp_key", "oauth_client_secret", "oauth_password"])
def test_a_secret_comes_from_its_file_without_the_trailing_newline(
    setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"LAPOR_SYNC_{setting.upper()}_FILE", str(secret_file(tmp_path, f"  {SECRET}\n")))

    settings = load_settings()

    assert getattr(settings, setting).get_secret_value() == SECRET
    assert settings.value_sources()[setting] == "env-file"


def test_the_database_url_comes_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://lapor:{SECRET}@db.internal/lapor"
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL_FILE", str(secret_file(tmp_path, url + "\n")))

    settings = load_settings()

    assert settings.database_url == url
    assert settings.masked()["database_url"] == "postgresql://lapor:***@db.internal/lapor"


def test_variable_names_match_in_any_case_and_an_empty_one_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("lapor_sync_api_key_file", str(secret_file(tmp_path, SECRET)))
    monkeypatch.setenv("LAPOR_SYNC_API_TOKEN_FILE", "")

    settings = load_settings()

    assert settings.api_key is not None and settings.api_key.get_secret_value() == SECRET
    assert settings.api_token is None


def test_a_variable_and_its_file_variable_together_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_API_KEY", "from-the-environment")

    message = refusal(monkeypatch, "LAPOR_SYNC_API_KEY_FILE", secret_file(tmp_path, SECRET))

    assert message == "LAPOR_SYNC_API_KEY and LAPOR_SYNC_API_KEY_FILE are both set; set only one of them"


def test_an_empty_variable_beside_its_file_variable_is_no_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_API_KEY", "")
    monkeypatch.setenv("LAPOR_SYNC_API_KEY_FILE", str(secret_file(tmp_path, SECRET)))

    assert load_settings().value_sources()["api_key"] == "env-file"


def test_a_missing_file_is_named_with_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"

    message = refusal(monkeypatch, "LAPOR_SYNC_OAUTH_CLIENT_SECRET_FILE", missing)

    assert message == f"LAPOR_SYNC_OAUTH_CLIENT_SECRET_FILE: {missing}: file not found"


def test_a_path_that_cannot_be_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, "LAPOR_SYNC_API_TOKEN_FILE", tmp_path)  # a directory

    assert message.startswith(f"LAPOR_SYNC_API_TOKEN_FILE: {tmp_path}: cannot read: ")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("\n", "file is empty"),
        ("   \n\n", "file is empty"),
        (f"{SECRET}\nsecond line {SECRET}\n", "must hold one line, without control characters"),
        (f"{SECRET}\x00".encode(), "must hold one line, without control characters"),
        (b"\xff\xfe" + SECRET.encode(), "not UTF-8 text"),
        ((SECRET * (MAX_SECRET_FILE_BYTES // len(SECRET) + 1)).encode(), "larger than 64 KiB"),
    ],
)
def test_an_unusable_file_is_refused_without_quoting_it(
    content: str | bytes, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = secret_file(tmp_path, content)

    message = refusal(monkeypatch, "LAPOR_SYNC_API_KEY_FILE", path)

    assert message == f"LAPOR_SYNC_API_KEY_FILE: {path}: {says}"
    assert SECRET not in message


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_API_KEY_FILE", str(secret_file(tmp_path, "k" * MAX_SECRET_FILE_BYTES)))

    settings = load_settings()

    assert settings.api_key is not None and len(settings.api_key.get_secret_value()) == MAX_SECRET_FILE_BYTES


def test_a_wrong_value_from_a_file_names_the_file_variable_and_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = refusal(monkeypatch, "LAPOR_SYNC_DATABASE_URL_FILE", secret_file(tmp_path, f"lapor:{SECRET}@db\n"))

    assert message.startswith("LAPOR_SYNC_DATABASE_URL_FILE: must be a database URL")
    assert SECRET not in message


def test_arguments_beat_the_file_variable_which_beats_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = secret_file(tmp_path, 'api_key = "from-toml"\napi_token = "token-from-toml"\n', "lapor-sync.toml")
    config.chmod(0o600)  # private, so it may hold secrets (tests/integration/test_config_secrets.py)
    monkeypatch.setenv("LAPOR_SYNC_API_KEY_FILE", str(secret_file(tmp_path, SECRET)))

    from_file = Settings.load(config)
    from_argument = Settings.load(config, api_key="from-argument")

    assert from_file.api_key is not None and from_file.api_key.get_secret_value() == SECRET
    assert (from_file.value_sources()["api_key"], from_file.value_sources()["api_token"]) == ("env-file", "file")
    assert from_argument.api_key is not None and from_argument.api_key.get_secret_value() == "from-argument"
    assert from_argument.value_sources()["api_key"] == "init"


def test_the_toml_file_cannot_name_secret_files(tmp_path: Path) -> None:
    config = secret_file(tmp_path, f'api_key_file = "{tmp_path / "key"}"\n', "lapor-sync.toml")

    with pytest.raises(ConfigurationError) as refused:
        load_settings(config)

    assert str(refused.value) == f"unknown setting 'api_key_file' in {config}"


def test_config_show_names_the_file_variable_and_masks_the_values(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAPOR_SYNC_DATABASE_URL")
    url_file = secret_file(tmp_path, f"postgresql://lapor:{SECRET}@db.internal/lapor\n", "url")
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL_FILE", str(url_file))
    monkeypatch.setenv("LAPOR_SYNC_API_KEY_FILE", str(secret_file(tmp_path, SECRET, "key")))

    shown = invoke_json("config", "show")
    table = invoke("config", "show")

    assert shown["api_key"] == {"value": "********", "source": "env-file", "env": "LAPOR_SYNC_API_KEY_FILE"}
    assert shown["database_url"] == {
        "value": "postgresql://lapor:***@db.internal/lapor",
        "source": "env-file",
        "env": "LAPOR_SYNC_DATABASE_URL_FILE",
    }
    assert shown["api_token"]["env"] == "LAPOR_SYNC_API_TOKEN"
    assert table.exit_code == 0
    assert "LAPOR_SYNC_API_KEY_FILE" in table.stdout and "env-file" in table.stdout
    assert SECRET not in table.output


def test_a_command_stops_on_an_unusable_secret_file(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_API_KEY_FILE", str(tmp_path / "nowhere"))

    result = invoke("config", "show")

    assert isinstance(result.exception, ConfigurationError)
    assert str(result.exception) == f"LAPOR_SYNC_API_KEY_FILE: {tmp_path / 'nowhere'}: file not found"
