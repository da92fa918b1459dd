"""Review (issue 5) of secrets in settings: passwords with special characters, secrets that are not one
line, and database errors at start, each kept out of what is printed."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lapor_sync.cli.app import main
from lapor_sync.config.settings import Settings, load_settings, mask_url
from lapor_sync.domain.errors import ConfigurationError

PASSWORD = "Pw-review5"
POSTGRES = os.environ.get("LAPOR_SYNC_TEST_POSTGRES_URL")  # read before ``clean_env`` removes it


pytestmark = pytest.mark.usefixtures("clean_env")  # tests/conftest.py


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
    # SQLAlchemy would take "ss-Pw-review5@db.internal" for the host, and the driver quote it.
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
    url = make_url(POSTGRES).set(password=PASSWORD, database="no_such_database_review5")
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", url.render_as_string(hide_password=False))

    code, printed = run_main(monkeypatch, capsys, "status")

    assert code == 2 and "no_such_database_review5" in printed and PASSWORD not in printed
    assert "Traceback" not in printed


def test_review_settings_built_from_arguments_follow_the_same_rules() -> None:
    assert Settings(api_key=f"{PASSWORD}\n").api_key.get_secret_value() == PASSWORD
