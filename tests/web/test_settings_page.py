"""The settings page and its API: ``config show`` masked exactly as the CLI masks it; secrets never shown."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from lapor_sync.accounts.roles import Role
from lapor_sync.config.settings import Settings
from tests.support.cli import CITY, invoke_json
from tests.web.conftest import ConsoleHarness

API_KEY = "kunci-api-yang-rahasia-sekali"


@pytest.fixture
def with_secrets(console: ConsoleHarness) -> ConsoleHarness:
    """The console's settings with an API key and a database password set."""
    console.app.settings = Settings(
        database_url=console.seeded.url, institution_id=CITY, api_key=SecretStr(API_KEY), api_token=SecretStr("tkn-9")
    )
    return console


def test_every_setting_with_its_source_and_the_secrets_masked(with_secrets: ConsoleHarness) -> None:
    page = with_secrets.signed_in(Role.VIEWER).get("/settings")
    assert page.status_code == 200
    assert "<code>api_key</code>" in page.text and "<code>LAPOR_SYNC_API_KEY</code>" in page.text
    assert "********" in page.text and API_KEY not in page.text and "tkn-9" not in page.text
    assert "diberikan saat mulai" in page.text and "bawaan" in page.text
    assert "Koneksi nasional" in page.text


def test_the_api_masks_as_config_show_does(
    with_secrets: ConsoleHarness, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    answer = with_secrets.client().get(
        "/api/v1/settings", headers={"Authorization": f"Bearer {with_secrets.token(Role.VIEWER)}"}
    )
    assert API_KEY not in answer.text
    data = answer.json()
    assert data["api_key"]["value"] == "********" and data["api_key"]["env"] == "LAPOR_SYNC_API_KEY"
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", with_secrets.seeded.url)
    monkeypatch.setenv("LAPOR_SYNC_API_KEY", API_KEY)
    cli = invoke_json("config", "show")
    assert cli["api_key"]["value"] == data["api_key"]["value"]
    assert {
        name: shown["value"]
        for name, shown in cli.items()
        if name not in ("national", "api_key", "api_token", "institution_id")
    } == {
        name: shown["value"]
        for name, shown in data.items()
        if name not in ("national", "api_key", "api_token", "institution_id")
    }
