"""The chaos soak, short: a worker killed with SIGKILL under the hostile simulator loses and duplicates nothing.

The same machinery as ``scripts/chaos_soak.py`` (read its docstring), for 20 seconds of chaos on
SQLite with a kill every few seconds (at least 3), the first between a national write and the
worker's local commit; then the settle phase and the invariant checker.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.e2e
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _soak_module() -> ModuleType:
    """``scripts/chaos_soak.py``, imported by path (scripts are not installed)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module("chaos_soak")


def test_a_worker_killed_again_and_again_under_hostile_faults_loses_and_duplicates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soak = _soak_module()
    logging.getLogger("lapor_sync").setLevel(logging.ERROR)
    config = soak.SoakConfig(seconds=20, database="sqlite", seed=11, kill_every=3, write_kill_share=0.3,
                             speed_hours=2, min_kills=3, logs=tmp_path / "logs")

    result = soak.run_soak(config)

    soak.print_result(result)  # shown by pytest when an assertion fails
    shown = capsys.readouterr().out
    assert result.kills >= 3 and result.write_kills >= 1, shown
    assert result.faults_total > 0 and result.report.complaints_national > 0, shown
    assert result.report.followups_expected > 0, shown
    assert result.settled.quiet, shown
    assert result.report.lost == 0 and result.report.duplicated == 0, shown
    assert result.report.ok, shown
