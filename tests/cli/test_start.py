"""Building the command line imports no database, HTTP, simulator or scheduler code: `--help` starts fast.

Each command imports what it needs when it runs. The check runs in a child process, the way people
start ``lapor-sync``, and looks at which modules were imported; it measures no time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.child import run_python

# Runs the CLI with the arguments given, then lists every module imported, on stderr.
IMPORTED_BY = """
import json, sys
from lapor_sync.cli.app import main
sys.argv = ["lapor-sync", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

NOT_AT_START = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "httpx",
    "tenacity",
    "starlette",
    "uvicorn",
    "apscheduler",
    "holidays",
    "pydantic_settings",
    "lapor_sync.app",
    "lapor_sync.adapters",
    "lapor_sync.storage",
    "lapor_sync.sync",
    "lapor_sync.reports",
    "lapor_sync.checks",
    "lapor_sync.demo",
    "lapor_sync.scheduler",
    "lapor_sync.simulator.server",
    "lapor_sync.simulator.app",
)
"""What only a running command needs: a package named here, or any module inside it."""


def imported_by(tmp_path: Path, *args: str) -> list[str]:
    """The modules a ``lapor-sync ARGS`` process has imported when it ends (it must end with exit 0)."""
    result = run_python(IMPORTED_BY, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "Usage: lapor-sync" in result.stdout
    return json.loads(result.stderr.splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("case", "--help"),
        ("case", "followup", "--help"),
        ("simulator", "--help"),
        ("log", "--help"),
        ("doctor", "--help"),
    ],
    ids=" ".join,
)
def test_help_imports_no_database_http_simulator_or_scheduler_code(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules = imported_by(tmp_path, *args)

    assert "lapor_sync.cli.cases" in modules  # every command was registered: the whole CLI was built
    assert [m for m in modules if m.startswith(tuple(f"{p}." for p in NOT_AT_START)) or m in NOT_AT_START] == []
