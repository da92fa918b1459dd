"""Output for people at a terminal (issue 14, finding 10): text log lines, a status line, one failure line."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from lapor_sync.cli.app import app
from lapor_sync.cli.sync_progress import SyncProgress, sync_status
from lapor_sync.runtime.logs import LogFormat, LogLevel, configure_logging
from lapor_sync.sync.journal import RunTally

NOW = datetime(2024, 10, 31, 9, 30, tzinfo=UTC)


class FakeTty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI sets the ``lapor_sync`` logger up globally: put the test suite's set-up back afterwards."""
    yield
    configure_logging(LogLevel.DEBUG)


def _warn() -> None:
    logging.getLogger("lapor_sync.sync").warning("complaint set aside: reporter 0812-3456-7890 wrote it")


def test_auto_format_writes_text_lines_on_a_terminal_with_wib_time_and_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr("sys.stderr", FakeTty())
    configure_logging(LogLevel.WARNING, log_format=LogFormat.AUTO)

    before = datetime.now(UTC)
    _warn()
    after = datetime.now(UTC)

    line = Text.from_ansi(sys.stderr.getvalue()).plain
    assert not line.startswith("{")
    assert "WARNING" in line
    assert "complaint set aside" in line
    assert "0812-3456-7890" not in line  # redacted in text lines as in JSON lines
    wib = timedelta(hours=7)  # the time is written in WIB (UTC+7), whatever the host's zone
    assert line[:8] in {f"{before + wib:%H:%M:%S}", f"{after + wib:%H:%M:%S}"}


def test_auto_format_writes_json_lines_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(LogLevel.WARNING, log_format=LogFormat.AUTO)

    _warn()

    record = json.loads(stream.getvalue())
    assert record["level"] == "WARNING"
    assert record["time"].endswith("+00:00")


def test_json_format_is_kept_on_a_terminal_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", FakeTty())
    configure_logging(LogLevel.WARNING, log_format=LogFormat.JSON)

    _warn()

    assert json.loads(sys.stderr.getvalue())["name"] == "lapor_sync.sync"


class FakeJournal:
    """The parts of a run's journal the status line reads."""

    def __init__(self) -> None:
        self.counts = RunTally()
        self.quota_wait_until: datetime | None = None
        self.quota_waited_seconds = 0.0


def _request(url: str) -> httpx.Request:
    return httpx.Request("GET", url, headers={"Authorization": "Bearer secret-token"})


def test_status_line_counts_pages_once_each_requests_and_the_run_counters() -> None:
    progress = SyncProgress("/complaints/inbox", lambda: NOW)
    journal = FakeJournal()
    progress.watch(journal)  # type: ignore[arg-type]
    base = "https://splp.example/lapor/3.0.0"
    for url in (f"{base}/complaints/inbox?page=1", f"{base}/complaints/inbox?page=1", f"{base}/complaints/5"):
        progress.on_request(_request(url))  # the inbox page 1 asked twice: a retry
    journal.counts.fetched, journal.counts.created, journal.counts.updated = 40, 30, 5

    line = progress.__rich__().plain

    assert line == "pages 1 · fetched 40 · created 30 · updated 5 · pushed 0 · requests 3"


def test_status_line_tells_a_quota_wait_under_way_in_wib_then_the_time_waited() -> None:
    now = NOW
    progress = SyncProgress("/complaints/inbox", lambda: now)
    journal = FakeJournal()
    progress.watch(journal)  # type: ignore[arg-type]
    journal.quota_wait_until = NOW + timedelta(seconds=40)
    journal.quota_waited_seconds = 12.4

    assert progress.__rich__().plain.endswith("waiting on the request quota until 16:30:40 WIB")
    now = NOW + timedelta(minutes=1)
    assert progress.__rich__().plain.endswith("quota waits 12 s")


def test_status_line_is_drawn_on_a_terminal_only() -> None:
    progress = SyncProgress("/complaints/inbox", lambda: NOW)
    piped = Console(file=io.StringIO(), force_terminal=False)
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)

    with sync_status(piped, progress, shown=True):
        pass
    with sync_status(terminal, progress, shown=False):
        pass
    assert piped.file.getvalue() == "" and terminal.file.getvalue() == ""  # type: ignore[attr-defined]
    with sync_status(terminal, progress, shown=True):
        terminal.print("working")  # forces a draw of the live line along with it
    assert "pages 0" in terminal.file.getvalue()  # type: ignore[attr-defined]


def test_a_text_log_line_during_the_status_line_is_drawn_above_it_not_glued_to_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = FakeTty()  # the same terminal as the status line's
    monkeypatch.setattr("sys.stderr", stderr)
    configure_logging(LogLevel.WARNING, log_format=LogFormat.AUTO)
    screen = Console(file=io.StringIO(), force_terminal=True, width=120)

    with sync_status(screen, SyncProgress("/complaints/inbox", lambda: NOW), shown=True):
        _warn()

    # Through the status line's console, which clears its line and draws the record above it;
    # written straight to the terminal it would start where the status line ends.
    assert "complaint set aside" in Text.from_ansi(screen.file.getvalue()).plain  # type: ignore[attr-defined]
    assert stderr.getvalue() == ""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["worker", "--once"], {}, (LogLevel.INFO, LogFormat.JSON)),
        (["--log-format", "text", "worker", "--once"], {}, (LogLevel.INFO, LogFormat.TEXT)),
        (
            ["--log-level", "error", "worker", "--once"],
            {"LAPOR_SYNC_LOG_FORMAT": "auto"},
            (LogLevel.ERROR, LogFormat.AUTO),
        ),
    ],
)
def test_worker_keeps_json_on_stdout_unless_a_format_is_asked(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], expected: tuple[LogLevel, LogFormat]
) -> None:
    seen: list[tuple[LogLevel, LogFormat, bool]] = []

    def spy(level: LogLevel, *, to_stdout: bool, log_format: LogFormat) -> None:
        seen.append((level, log_format, to_stdout))
        raise SystemExit(0)  # the worker itself is not under test here

    monkeypatch.setattr("lapor_sync.cli.worker.configure_logging", spy)

    CliRunner().invoke(app, args, env=env)

    assert seen == [(*expected, True)]
