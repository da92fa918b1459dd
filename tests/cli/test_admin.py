"""The ``db upgrade`` and ``config show`` commands: schema creation, masked settings and their sources."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lapor_sync.storage.database import Database, normalise_url
from tests.conftest import POSTGRES_ENV
from tests.support.cli import cli_env, invoke, invoke_json

__all__ = ["cli_env"]  # fixture


def test_db_upgrade_creates_the_schema_and_says_so(cli_env: str) -> None:
    result = invoke("db", "upgrade")

    assert result.exit_code == 0
    assert result.stdout.strip() == f"{cli_env}: schema is current."
    db = Database(cli_env)
    assert db.is_current()
    db.dispose()
    assert invoke("db", "upgrade").exit_code == 0  # idempotent


def test_db_upgrade_prints_the_url_with_its_password_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"needs {POSTGRES_ENV}, e.g. postgresql://postgres@127.0.0.1:5432/test")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).set(password="hunter2").render_as_string(hide_password=False)
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", f"{url}?options=-csearch_path%3D{schema}")
    try:
        result = invoke("db", "upgrade")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert ":***@127.0.0.1" in result.stdout and result.stdout.strip().endswith("schema is current.")


def test_config_show_masks_secrets_and_names_each_source(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_API_KEY", "very-secret-key")
    config = tmp_path / "lapor-sync.toml"
    config.write_text("per_page = 50\n", encoding="utf-8")

    shown = invoke_json("--config", str(config), "config", "show")

    assert shown["api_key"] == {"value": "********", "source": "env", "env": "LAPOR_SYNC_API_KEY"}
    assert shown["per_page"] == {"value": "50", "source": "file", "env": "LAPOR_SYNC_PER_PAGE"}
    assert shown["database_url"]["source"] == "env"
    assert shown["api_token"] == {"value": "(not set)", "source": "default", "env": "LAPOR_SYNC_API_TOKEN"}
    table = invoke("config", "show")
    assert table.exit_code == 0 and "very-secret-key" not in table.stdout and "********" in table.stdout


def test_every_command_teaches_with_an_example() -> None:
    commands = [
        ["runs"],
        ["log"],
        ["outbox"],
        ["status"],
        ["report"],
        ["db", "upgrade"],
        ["config", "show"],
        ["mapping", "check"],
        ["mapping", "explain"],
        ["case", "list"],
        ["case", "show"],
        ["case", "followup"],
        ["case", "complete"],
        ["case", "return"],
        ["case", "forward"],
        ["reconcile-export"],
        ["simulator-export"],
    ]
    for command in commands:
        result = invoke(*command, "--help")
        assert result.exit_code == 0, command
        assert "Example:" in result.stdout and "lapor-sync" in result.stdout.split("Example:")[1], command
