"""End to end, a poisoned complaint: its detail always answers ``{"results": null}``; the pull goes on past it.

Over loopback against the simulator, whose fault plan targets that one complaint, on SQLite and
PostgreSQL: the runs before the limit fail and say so, the third sets it aside and stores the
complaint behind it, ``status`` lists it with its count and reason, and ``resync --set-aside``
brings it in once the platform serves it again. A detail endpoint failing for every complaint
sets nothing aside.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from lapor_sync.cli.app import app as cli_app
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.faults.plan import FaultPlan
from tests.support.e2e import DINSOS, Harness, command_env

pytestmark = pytest.mark.e2e
SOSIAL = category_id("Sosial dan Kesejahteraan")
Cli = Callable[..., Any]


@pytest.fixture
def cli(on_db: Harness, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Cli:
    """Run ``lapor-sync ARGS --json`` against the harness; return the exit code and the parsed output."""
    for name, value in command_env(on_db.app.settings.database_url, on_db.base_url, lease_wait_seconds=0).items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, Any]:
        result = CliRunner().invoke(cli_app, [*args, "--json"])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, json.loads(result.stdout)

    return run


def three_in_a_row(h: Harness) -> tuple[int, int, int]:
    """Before, poisoned, behind: three new Dinas Sosial complaints in inbox order, their seconds surely over."""
    ids = []
    for _ in range(3):
        ids.append(h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id)
        h.advance(timedelta(minutes=1))
    h.advance(timedelta(minutes=10))
    before, poisoned, behind = ids
    return before, poisoned, behind


def test_a_complaint_whose_detail_is_always_null_is_set_aside_and_the_others_are_stored_in_the_same_run(
    on_db: Harness, cli: Cli
) -> None:
    h = on_db
    before, poisoned, behind = three_in_a_row(h)
    h.simulator.set_faults(FaultPlan({"null_results": 1.0}, complaints=frozenset({poisoned}), name="poisoned"))

    first = h.sync(push=False)
    h.advance(timedelta(minutes=5))
    second = h.sync(push=False)
    h.advance(timedelta(minutes=5))

    # Before the limit: the run fails at the complaint, what came before it is stored, the cursor stays.
    assert (first.outcome, second.outcome) == ("failed", "failed") and "results" in (second.error or "")
    assert [case.complaint_id for case in h.cases()] == [before] and h.cursor() is None
    code, status = cli("status")
    assert (code, status["health"]) == (2, "failing")
    assert f"complaint {poisoned}: reading it failed 2 pull runs in a row" in " ".join(status["reasons"])
    assert [(f["complaint_id"], f["failed_runs_in_a_row"], f["set_aside"]) for f in status["read_failures"]] == [
        (poisoned, 2, False)
    ]

    third = h.sync(push=False)

    assert (third.outcome, third.created, third.set_aside) == ("ok", 1, 1)
    assert [case.complaint_id for case in h.cases()] == [before, behind]
    [record] = h.set_aside()
    assert record.complaint_id == poisoned and record.reason.startswith("reading it failed 3 pull runs in a row (")
    assert "the body has no 'results'" in record.reason
    [event] = h.events("complaint.set_aside")
    assert event.run_id == third.id and "failed 3 pull runs in a row" in event.message
    _, status = cli("status")  # failing still: the simulator's clock is in 2024, the command's is not
    assert status["set_aside_unresolved"] == 1 and "1 set-aside national record unresolved" in status["reasons"]
    [failing] = status["read_failures"]
    assert (failing["complaint_id"], failing["failed_runs_in_a_row"], failing["set_aside"]) == (poisoned, 3, True)
    assert "the body has no 'results'" in failing["reason"]

    h.simulator.set_faults(None)  # the platform serves the complaint again
    code, resync = cli("resync", "--set-aside")

    assert code == 0 and [(c["complaint_id"], c["outcome"]) for c in resync["changes"]] == [(poisoned, "created")]
    code, status = cli("status")
    assert (status["set_aside_unresolved"], status["read_failures"]) == (0, [])
    assert [case.complaint_id for case in h.cases()] == [before, poisoned, behind]


def test_a_detail_endpoint_failing_for_every_complaint_sets_nothing_aside(on_db: Harness) -> None:
    h = on_db
    three_in_a_row(h)
    h.faults.fail("GET", r"/complaints/\d+/complaint$", 500)

    runs = [h.sync(push=False) for _ in range(4)]

    assert {run.outcome for run in runs} == {"failed"} and {run.set_aside for run in runs} == {0}
    assert h.set_aside() == [] and h.events("complaint.read_failed") == [] and h.cases() == []
