"""Secrets in the TOML file only when the file is private (its owner alone has access); the demo's files are 0600.

SECURITY.md: a configuration file may hold the API key, the app token, the OAuth2 client secret
and a database URL with a password only if no one but its owner, the user running lapor-sync,
can read it; otherwise it is refused with one line that names the keys, never their values.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from lapor_sync.cli.app import main
from lapor_sync.config.settings import load_settings
from lapor_sync.demo.runner import demo_settings, prepare_workdir, write_serve_again_config
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Agency
from tests.support.e2e import small_world

pytestmark = pytest.mark.usefixtures("clean_env", "usual_umask")  # tests/conftest.py: files made under umask 022

SECRETS = {
    "api_key": "Key-in-toml-0001",
    "api_token": "Token-in-toml-0002",
    "oauth_client_secret": "Client-secret-0003",
    "database_url": "postgresql://lapor:Pw-in-toml-0004@db/lapor",
}
FILE_VARIABLES = (
    "LAPOR_SYNC_API_KEY_FILE, LAPOR_SYNC_API_TOKEN_FILE, LAPOR_SYNC_DATABASE_URL_FILE, "
    "LAPOR_SYNC_OAUTH_CLIENT_SECRET_FILE"
)


def config_file(tmp_path: Path, mode: int, values: dict[str, str]) -> Path:
    path = tmp_path / "lapor-sync.toml"
    path.write_text(
        "".join(f'{key} = "{value}"\n' for key, value in values.items()) + "institution_id = 6271\n", encoding="utf-8"
    )
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=lambda mode: f"{mode:04o}")
def test_secrets_in_a_toml_file_others_can_open_are_refused_in_one_line_and_taken_once_it_is_0600(
    tmp_path: Path, mode: int
) -> None:
    path = config_file(tmp_path, mode, SECRETS)

    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)

    assert str(refused.value) == (
        f"{path}: holds secrets (api_key, api_token, database_url, oauth_client_secret), so it must be readable "
        f"by its owner alone, but others have access to it (mode {mode:04o}); run chmod 600 {path}, "
        f"or set {FILE_VARIABLES} instead and remove them from the file"
    )
    path.chmod(0o600)
    settings = load_settings(path)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == SECRETS["api_key"]
    assert settings.database_url == SECRETS["database_url"] and settings.value_sources()["database_url"] == "file"


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://lapor@db/lapor?sslmode=require&sslpassword=Ssl-pw-0005", True),
        ("sqlite:///file:lapor.db?mode=rwc&uri=true&key=Sqlcipher-0006", True),
        ("postgresql://lapor@db/lapor?sslmode=require&application_name=lapor-sync", False),
    ],
)
def test_a_database_url_counts_as_a_secret_when_it_carries_a_password(tmp_path: Path, url: str, secret: bool) -> None:
    path = config_file(tmp_path, 0o644, {"database_url": url})

    if not secret:
        assert load_settings(path).database_url == url
        return
    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)
    assert "holds secrets (database_url)" in str(refused.value) and "LAPOR_SYNC_DATABASE_URL_FILE" in str(refused.value)
    assert "0005" not in str(refused.value) and "0006" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("api_base_url", "https://gw.lapor.test/lapor/3.0.0?apikey=Api-key-0007"),
        ("oauth_token_url", "https://client:Client-pw-0008@gw.lapor.test/oauth2/token"),
    ],
)
def test_an_api_url_counts_as_a_secret_when_it_carries_a_key_or_a_password(tmp_path: Path, name: str, url: str) -> None:
    path = config_file(tmp_path, 0o644, {name: url})

    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)

    # No _FILE variable for these: the fix names the plain one.
    assert f"holds secrets ({name})" in str(refused.value)
    assert f"or set LAPOR_SYNC_{name.upper()} instead" in str(refused.value)
    assert "0007" not in str(refused.value) and "0008" not in str(refused.value)
    path.chmod(0o600)
    assert getattr(load_settings(path), name) == url


def test_the_fix_names_the_file_a_symbolic_link_points_to(tmp_path: Path) -> None:
    target = config_file(tmp_path, 0o644, {"api_key": SECRETS["api_key"]})
    link = tmp_path / "city.toml"
    link.symlink_to(target)

    with pytest.raises(ConfigurationError) as refused:
        load_settings(link)

    assert str(refused.value).startswith(
        f"{link}: holds secrets (api_key), so it must be readable by its owner "
        f"alone, but others have access to it (mode 0644); run chmod 600 "
        f"{os.path.realpath(target)}, "
    )


def test_where_the_owner_cannot_be_checked_secrets_in_the_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file(tmp_path, 0o600, {"api_key": SECRETS["api_key"]})
    monkeypatch.delattr(os, "geteuid")  # as on Windows

    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)

    assert str(refused.value) == (
        f"{path}: holds secrets (api_key), and this system cannot tell whether its owner "
        "alone may read it; set LAPOR_SYNC_API_KEY_FILE instead and remove them from the file"
    )
    assert load_settings(config_file(tmp_path, 0o644, {})).institution_id == 6271  # a file without secrets is read


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_secrets_in_a_0600_file_of_another_user_are_refused(tmp_path: Path) -> None:
    path = config_file(tmp_path, 0o600, {"api_key": SECRETS["api_key"]})
    os.chown(path, 12345, -1)

    with pytest.raises(ConfigurationError) as refused:
        load_settings(path)

    assert str(refused.value).startswith(
        f"{path}: holds secrets (api_key), so it must be readable by its owner "
        "alone, but it belongs to uid 12345, not to uid 0 running lapor-sync"
    )


def test_the_command_line_shows_the_refusal_as_one_line_without_the_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, 0o644, SECRETS)
    monkeypatch.setattr(sys, "argv", ["lapor-sync", "-c", str(path), "config", "show"])
    monkeypatch.setenv("COLUMNS", "80")

    with pytest.raises(SystemExit) as exited:
        main()

    printed = capsys.readouterr()
    assert exited.value.code == 2 and printed.out == ""
    assert printed.err.splitlines() == [
        f"error: {path}: holds secrets (api_key, api_token, database_url, "
        f"oauth_client_secret), so it must be readable by its owner alone, but "
        f"others have access to it (mode 0644); run chmod 600 {path}, or set "
        f"{FILE_VARIABLES} instead and remove them from the file"
    ]
    assert not any(value.split(":")[-1] in printed.err for value in SECRETS.values())


def test_the_demo_writes_its_folder_0700_and_every_file_0600_and_its_toml_is_accepted(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    workdir.mkdir(mode=0o755)  # an older demo's folder
    (workdir / "lapor-sync.toml").write_text("old", encoding="utf-8")

    prepare_workdir(workdir)
    settings = demo_settings(workdir, "http://127.0.0.1:9/lapor/3.0.0")
    database = Database(settings.database_url)
    database.upgrade()
    with database.session() as session:  # a write, so the -wal and -shm files exist
        session.add(Agency(code="X", name="X"))
        session.commit()
        small_world().save(workdir / "simulator-state.json")
        config = write_serve_again_config(workdir, settings)
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in workdir.iterdir()}
    database.dispose()

    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert {"lapor-sync.db", "lapor-sync.db-wal", "lapor-sync.toml", "simulator-state.json"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o600)
    assert load_settings(config).api_key is not None  # `lapor-sync -c .lapor-sync-demo/lapor-sync.toml ...` works
