"""Gaps in masking and in refusing bad input: URL query values, SQLite file modes, deeply nested TOML.

- ``config show`` shows a URL's query values only for keys known to be harmless (``sslmode``,
  ``application_name``, SQLite's ``mode``...); every other value is ``***``.
- Every form of SQLite URL creates the database file 0600 (its ``-wal`` and ``-shm`` follow).
- A TOML file nested hundreds of levels deep, as ``--config`` or as the mapping file, is refused
  with the usual one-line error; a running worker handed one keeps its mapping and says so once.
"""

from __future__ import annotations

import json
import logging
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lapor_sync.app import App
from lapor_sync.cli.app import app, main
from lapor_sync.config.mapping_file import DEFAULT_MAPPING
from lapor_sync.config.settings import Settings, mask_url
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Agency
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("clean_env", "usual_umask")  # tests/conftest.py: files made under umask 022

PACKAGED_MAPPING = REPO_ROOT / "mappings" / DEFAULT_MAPPING
DEEP = 900
NESTINGS = {
    "arrays": "a = " + "[" * DEEP + "]" * DEEP + "\n",
    "inline tables": "a = " + "{ b = " * DEEP + "1" + " }" * DEEP + "\n",
}


# -- URL query values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://lapor@db/lapor?sslmode=require&sslpassword=S1&application_name=lapor-sync&password=S2",
            "postgresql://lapor@db/lapor?sslmode=require&sslpassword=***&application_name=lapor-sync&password=***",
        ),
        (
            "https://gw.example/lapor?apikey=S3&access_token=S4&client_secret=S5",
            "https://gw.example/lapor?apikey=***&access_token=***&client_secret=***",
        ),
        (
            "https://gw.example/token?x-api-key=S6&connect_timeout=5#access_token=S7",
            "https://gw.example/token?x-api-key=***&connect_timeout=5#***",
        ),
        ("sqlite:///file:lapor.db?mode=rwc&uri=true&key=S8", "sqlite:///file:lapor.db?mode=rwc&uri=true&key=***"),
        ("postgresql://db/lapor?Pass%77ord=S9&S10", "postgresql://db/lapor?Pass%77ord=***&***"),
    ],
)
def test_every_query_value_not_known_to_be_harmless_is_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_config_show_masks_the_query_values_of_every_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", "postgresql://lapor@db/lapor?sslmode=verify-full&sslpassword=S1")
    monkeypatch.setenv("LAPOR_SYNC_API_BASE_URL", "https://gw.example/lapor/3.0.0?apikey=S2&access_token=S3")
    monkeypatch.setenv("LAPOR_SYNC_OAUTH_TOKEN_URL", "https://gw.example/token?client_secret=S4")

    result = CliRunner().invoke(app, ["config", "show", "--json"])

    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)
    del settings["national"]  # the connection the settings make, not a setting
    shown = {name: row["value"] for name, row in settings.items()}
    assert shown["database_url"] == "postgresql://lapor@db/lapor?sslmode=verify-full&sslpassword=***"
    assert shown["api_base_url"] == "https://gw.example/lapor/3.0.0?apikey=***&access_token=***"
    assert shown["oauth_token_url"] == "https://gw.example/token?client_secret=***"


# -- SQLite file modes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///{dir}/absolute.db", "absolute.db"),
        ("sqlite+pysqlite:///driver.db", "driver.db"),
        ("sqlite:///file:uri.db?mode=rwc&uri=true", "uri.db"),
        ("sqlite:///file:{dir}/uri-absolute.db?uri=true", "uri-absolute.db"),
        ("sqlite:///file://localhost{dir}/uri-host.db?uri=true&cache=private", "uri-host.db"),
        ("sqlite:///file:uri%2520space.db?uri=true", "uri space.db"),
    ],
)
def test_every_sqlite_url_form_creates_the_database_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    database = Database(url.format(dir=tmp_path))
    database.upgrade()
    with database.session() as session:  # a write, so the -wal and -shm files exist
        session.add(Agency(code="X", name="X"))
        session.commit()
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    database.dispose()

    assert {name, f"{name}-wal"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o600)


# -- deeply nested TOML ----------------------------------------------------------------------------


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["lapor-sync", *args])
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("shape", NESTINGS)
def test_a_900_level_nested_config_file_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(NESTINGS[shape], encoding="utf-8")

    code, err = run_main(monkeypatch, capsys, "-c", str(path), "config", "show")

    assert (code, err.splitlines()) == (
        2,
        [f"error: {path}: tables or arrays nested deeper than 32 levels; not a configuration file"],
    )


@pytest.mark.parametrize("shape", NESTINGS)
def test_a_900_level_nested_mapping_file_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(PACKAGED_MAPPING.read_text(encoding="utf-8") + NESTINGS[shape], encoding="utf-8")
    monkeypatch.setenv("LAPOR_SYNC_MAPPING_FILE", str(path))

    code, err = run_main(monkeypatch, capsys, "mapping", "check")

    assert (code, err.splitlines()) == (
        2,
        [
            f"error: LAPOR_SYNC_MAPPING_FILE: {path}: tables or arrays nested deeper than 32 levels; "
            "not a configuration file"
        ],
    )


def test_a_running_worker_keeps_its_mapping_when_handed_a_nested_file_says_so_once_and_takes_a_later_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "city.toml"
    good = PACKAGED_MAPPING.read_text(encoding="utf-8")
    path.write_text(good, encoding="utf-8")
    app_ = App(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", mapping_file=path, institution_id=6271))
    in_force = app_.mapping

    path.write_text(good + NESTINGS["arrays"], encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="lapor_sync"):
        refreshed = [app_.refresh_mapping() for _tick in range(3)]
    assert refreshed == [False, False, False] and app_.mapping is in_force
    assert [record.getMessage() for record in caplog.records] == [
        "the mapping file changed but is refused, the previous one stays in force: LAPOR_SYNC_MAPPING_FILE: "
        f"{path}: tables or arrays nested deeper than 32 levels; not a configuration file"
    ]

    path.write_text(
        good.replace('name = "Pemerintah Kota Palangka Raya"', 'name = "Kota Palangka Raya"'), encoding="utf-8"
    )
    assert app_.refresh_mapping() is True
    assert app_.mapping.institution.name == "Kota Palangka Raya"
