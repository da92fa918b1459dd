"""A command's error line is masked; an unexpected exception ends as one masked line on stderr and exit 70,
never as a traceback.

The command runs in a child process, the way people run it, so what Python itself would print
for an exception that escapes ``main()`` is seen too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lapor_sync.cli import app as cli_app
from lapor_sync.domain.errors import ConfigurationError
from tests.support.child import run_python

PHONE, EMAIL, NIK = "0812-3456-7890", "budi.santoso@contoh.id", "3271234567890123"
POINTER = "; run again with --log-level debug for the details"

# `config show` crashes with an exception whose text, and whose cause's, quote a reporter's contact data.
CRASHING_CONFIG_SHOW = f"""
import sys
from lapor_sync.cli.app import main
from lapor_sync.config.settings import Settings

def crash(_self):
    try:
        raise ValueError("cause: pelapor {PHONE} <{EMAIL}>")
    except ValueError as cause:
        raise RuntimeError("LAPOR! said: NIK {NIK},\\n  phone {PHONE}") from cause

Settings.masked = crash
sys.argv = ["lapor-sync", *sys.argv[1:], "config", "show"]
main()
"""

# A statement that fails (a bug): its error quotes the statement (values hidden) over several lines.
FAILING_STATEMENT = """
import sqlite3, sys
from sqlalchemy.exc import IntegrityError
from lapor_sync.cli.app import main
from lapor_sync.config.settings import Settings

def crash(_self):
    raise IntegrityError('INSERT INTO "case" (tracking_id) VALUES (?)', ("secret",),
                         sqlite3.IntegrityError("UNIQUE constraint failed: case.tracking_id"), hide_parameters=True)

Settings.masked = crash
sys.argv = ["lapor-sync", "config", "show"]
main()
"""


def run(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(code, tmp_path, *args, extra_env={"COLUMNS": "80"})  # a narrow terminal: still one line


def test_an_unexpected_exception_prints_one_masked_line_and_exits_70(tmp_path: Path) -> None:
    result = run(CRASHING_CONFIG_SHOW, tmp_path)

    assert (result.returncode, result.stdout) == (70, ""), result.stderr
    assert result.stderr.splitlines() == [
        f"error: internal error (RuntimeError): LAPOR! said: NIK [NIK masked], phone [phone masked]{POINTER}"
    ]


def test_at_log_level_debug_the_traceback_is_a_masked_log_line_cause_included(tmp_path: Path) -> None:
    result = run(CRASHING_CONFIG_SHOW, tmp_path, "--log-level", "debug")

    assert result.returncode == 70, result.stderr
    *log_lines, last = result.stderr.splitlines()
    assert last.startswith("error: internal error (RuntimeError): ") and last.endswith(POINTER)
    traceback = [json.loads(line) for line in log_lines if line.startswith("{")][-1]["exc_info"]
    assert "The above exception was the direct cause of the following exception" in traceback
    assert "ValueError: cause: pelapor [phone masked] <[email masked]>" in traceback
    assert all(secret not in result.stderr for secret in (PHONE, EMAIL, NIK, "3456"))
    assert not [line for line in result.stderr.splitlines() if line.startswith("Traceback")]


def test_a_failing_statement_is_an_internal_error_line_too_not_a_traceback(tmp_path: Path) -> None:
    result = run(FAILING_STATEMENT, tmp_path)

    assert result.returncode == 70, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "error: internal error (IntegrityError): (sqlite3.IntegrityError) UNIQUE constraint "
        'failed: case.tracking_id [SQL: INSERT INTO "case" (tracking_id) VALUES (?)]'
    )
    assert line.endswith(POINTER) and "secret" not in line


def test_ctrl_c_still_ends_quietly_with_130_as_before(tmp_path: Path) -> None:
    # Not an internal error: typer turns it into exit 130 before main() sees it, and nothing is printed.
    interrupted = CRASHING_CONFIG_SHOW.replace('raise RuntimeError("LAPOR!', 'raise KeyboardInterrupt("LAPOR!')

    result = run(interrupted, tmp_path, "--log-level", "debug")

    assert (result.returncode, result.stderr) == (130, "")


def test_the_clis_error_line_masks_personal_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing() -> None:
        raise ConfigurationError("HTTP 422: pelapor 0812-3456-7890 (budi@contoh.id) ditolak")

    monkeypatch.setattr(cli_app, "app", failing)
    with pytest.raises(SystemExit):
        cli_app.main()

    line = capsys.readouterr().err
    assert "ditolak" in line and "0812" not in line and "budi@" not in line
