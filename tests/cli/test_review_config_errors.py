"""Review: a wrong database URL or mapping file is refused with one message naming its setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.errors import ConfigurationError


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


def test_review_a_failed_run_whose_error_looks_like_markup_is_printed_as_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from contextlib import nullcontext
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from lapor_sync.cli.app import app
    from lapor_sync.storage.models import SyncRun

    error = "HTTP 403: forbidden: akses [/] ditolak"  # the platform's message, quoted as it came
    failed = SyncRun(
        id=7,
        institution_id=6271,
        job="sync",
        trigger="command",
        outcome="failed",
        error=error,
        started_at=datetime(2024, 10, 31, tzinfo=UTC),
        finished_at=datetime(2024, 10, 31, tzinfo=UTC),
    )

    class FailingService:
        def run(self, **_: object) -> SyncRun:
            return failed

    monkeypatch.setattr(App, "platform", lambda self: nullcontext(None))
    monkeypatch.setattr(App, "sync_service", lambda self, platform: FailingService())
    env = {
        "LAPOR_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "LAPOR_SYNC_API_KEY": "k",
        "LAPOR_SYNC_API_TOKEN": "t",
        "LAPOR_SYNC_INSTITUTION_ID": "6271",
        "COLUMNS": "200",
    }

    result = CliRunner().invoke(app, ["sync"], env=env)

    assert result.exit_code == 1, result.exception
    assert f"error: {error}" in result.stdout
