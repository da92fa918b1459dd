"""The ``sync`` command: what it prints of a finished run."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lapor_sync.app import App
from lapor_sync.cli.app import app
from lapor_sync.storage.models import SyncRun


def test_review_a_failed_run_whose_error_looks_like_markup_is_printed_as_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
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
