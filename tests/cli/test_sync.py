"""The ``sync`` command: what it prints of a finished run, and nothing else (issue 14, finding 10)."""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from lapor_sync.app import App
from lapor_sync.cli.app import app
from lapor_sync.domain.runs import Level
from lapor_sync.runtime.logs import LogLevel, configure_logging
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.journal import event_row

NOW = datetime(2024, 10, 31, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """The CLI sets the ``lapor_sync`` logger up globally: put the test suite's set-up back afterwards."""
    yield
    configure_logging(LogLevel.DEBUG)


def _failed_run(error: str) -> SyncRun:
    return SyncRun(
        id=7,
        institution_id=6271,
        job="sync",
        trigger="command",
        outcome="failed",
        error=error,
        started_at=NOW,
        finished_at=NOW,
    )


class FailingService:
    """A sync whose run fails as a real one does: its ``run.failed`` event mirrored as a log line."""

    def __init__(
        self,
        error: str = "transport failure (ConnectError) talking to api-splp.layanan.go.id",
        *,
        other_warning: bool = False,
    ) -> None:
        self.error = error
        self.other_warning = other_warning

    def run(self, **_: Any) -> SyncRun:
        if self.other_warning:
            logging.getLogger("lapor_sync.sync").warning("complaint set aside: its detail cannot be read")
        event_row(NOW, "run.failed", f"Sync run stopped: {self.error}", level=Level.ERROR, run_id=7)
        return _failed_run(self.error)


def _sync(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, service: FailingService, *args: str) -> Result:
    monkeypatch.setattr(App, "platform", lambda self: nullcontext(None))
    monkeypatch.setattr(App, "sync_service", lambda self, platform: service)
    env = {
        "LAPOR_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "LAPOR_SYNC_API_KEY": "k",
        "LAPOR_SYNC_API_TOKEN": "t",
        "LAPOR_SYNC_INSTITUTION_ID": "6271",
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_review_a_failed_run_whose_error_looks_like_markup_is_printed_as_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    error = "HTTP 403: forbidden: akses [/] ditolak"  # the platform's message, quoted as it came

    result = _sync(monkeypatch, tmp_path, FailingService(error), "sync")

    assert result.exit_code == 1, result.exception
    assert f"error: {error}" in result.stdout


def test_failed_sync_piped_prints_no_json_log_line_above_its_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Fails on 7d1a0aa: the run.failed event's JSON line came first on stderr."""
    result = _sync(monkeypatch, tmp_path, FailingService(), "sync")

    assert result.exit_code == 1
    assert result.stderr == ""  # no log line, no status line: piped, only the result
    assert result.output.startswith("Sync run #7: failed")
    assert result.output.count("ConnectError") == 1  # said once, under the table


def test_failed_sync_with_json_prints_only_the_json_summary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = _sync(monkeypatch, tmp_path, FailingService(), "sync", "--json")

    assert result.exit_code == 1
    assert result.stderr == ""
    assert json.loads(result.stdout)["outcome"] == "failed"


def test_other_warnings_of_a_sync_still_reach_the_log_in_the_chosen_format(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_text = _sync(monkeypatch, tmp_path, FailingService(other_warning=True), "--log-format", "text", "sync")
    monkeypatch.setenv("LAPOR_SYNC_LOG_FORMAT", "json")
    as_json = _sync(monkeypatch, tmp_path, FailingService(other_warning=True), "sync")

    assert "WARNING" in as_text.stderr and "complaint set aside" in as_text.stderr
    assert not as_text.stderr.lstrip().startswith("{")
    assert "Sync run stopped" not in as_text.stderr
    (line,) = as_json.stderr.splitlines()
    assert json.loads(line)["message"].startswith("complaint set aside")


def test_the_failure_filter_is_gone_after_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _sync(monkeypatch, tmp_path, FailingService(), "sync")

    assert logging.getLogger("lapor_sync.sync").filters == []
