"""The chaos soak, short: a worker killed with SIGKILL under the hostile simulator, its job leases lost again
and again, loses and duplicates nothing.

The same machinery as ``scripts/chaos_soak.py`` (read its docstring), for 20 seconds of chaos on
each engine (longer, up to 40, until the counts below are reached) with a kill every few seconds
(at least 3), the first between a national write and the worker's local commit, and a contender
worker beside it; a lease fault every few seconds, on SQLite a clock step (libfaketime) of a dozen
seconds, past the 5 s lease, on PostgreSQL a killed lock connection, until at least one run lost
its lease. Then the settle phase and the invariant checker.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import _postgres_url
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.e2e
SCRIPTS = REPO_ROOT / "scripts"


def _soak_module() -> ModuleType:
    """``scripts/chaos_soak.py``, imported by path (scripts are not installed)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module("chaos_soak")


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_worker_killed_again_and_again_and_losing_its_leases_loses_and_duplicates_nothing(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    soak = _soak_module()
    if engine == "postgres":
        _postgres_url()  # skips without a server (fails under CI=true); the soak makes its own schema
    # The SQLite clock steps need libfaketime (.ci/run installs it); without it the kills still run.
    lease_faults = engine == "postgres" or soak.LIBFAKETIME.exists()
    logging.getLogger("lapor_sync").setLevel(logging.ERROR)
    config = soak.SoakConfig(
        seconds=20,
        database=engine,
        seed=11,
        kill_every=3,
        write_kill_share=0.3,
        speed_hours=2,
        min_kills=3,
        # The concurrent push leaves less time between a write and its commit, and the contender may
        # do the pushing: go on until one kill has landed there, as the assertion below needs.
        min_write_kills=1,
        min_lease_losses=int(lease_faults),
        lease_faults=lease_faults,
        lease_fault_every=4,
        step_seconds=12,
        logs=tmp_path / "logs",
    )

    result = soak.run_soak(config)

    soak.print_result(result)  # shown by pytest when an assertion fails
    shown = capsys.readouterr().out
    assert result.kills >= 3 and result.write_kills >= 1, shown
    if lease_faults:
        assert result.lease_loss.total >= 1, shown
        assert sum(result.lease_loss.runs_lost.values()) >= 1, shown
    else:
        print(f"no libfaketime ({soak.LIBFAKETIME}): SQLite soaked without clock steps")
    assert result.faults_total > 0 and result.report.complaints_national > 0, shown
    assert result.report.followups_expected > 0, shown
    assert result.settled.quiet, shown
    assert result.report.lost == 0 and result.report.duplicated == 0, shown
    assert result.report.ok, shown
