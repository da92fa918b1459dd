"""Exit codes that tell the truth (issue 14, finding 3): a push that delivered nothing is not a success.

``sync`` and ``worker --once`` exit 0 when everything they tried got through, 4 when the push
delivered some outbox rows and not others, 1 when nothing got through; ``status`` tells the last
push attempt from the last push that delivered. Commands run in-process against the served simulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from lapor_sync.app import App
from lapor_sync.cli.app import app
from lapor_sync.cli.context import EXIT_PARTLY_FAILED, EXIT_RUN_FAILED
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.complaint import ThreadEntry
from lapor_sync.domain.errors import TransientError
from lapor_sync.simulator.faults.plan import FaultPlan
from tests.support.e2e import Harness, PlatformWrapper, command_env

pytestmark = pytest.mark.e2e


def lapor_sync(h: Harness, *args: str) -> Result:
    """Run ``lapor-sync *args`` in-process with the settings that point at ``h``'s simulator and database."""
    env = command_env(h.app.settings.database_url, h.base_url) | {"COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def followups_waiting(h: Harness, count: int) -> list[int]:
    """Pull ``count`` new cases and queue a follow-up on each; return their complaint ids."""
    complaints = [h.new_case() for _ in range(count)]
    for complaint_id in complaints:
        h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas akan survei lokasi.")
    return complaints


class Refuses(PlatformWrapper):
    """Posts follow-ups for real, except on the complaints ``refused`` says: there the gateway answers 503."""

    def __init__(self, inner: Any, refused: Callable[[int], bool]) -> None:
        super().__init__(inner)
        self.refused = refused

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Refuse the chosen complaints, post on the others."""
        if self.refused(complaint_id):
            raise TransientError("Service Unavailable", status=503)
        return self.inner.post_followup(complaint_id, **kwargs)

    def __enter__(self) -> Refuses:
        """Open as the platform it wraps does (``sync`` opens it with ``with``; the worker does not)."""
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the platform it wraps."""
        self.inner.__exit__(*exc)


@pytest.fixture
def refuse_followups(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[int], bool]], None]]:
    """Make every platform the commands open refuse the follow-ups of the complaints a predicate picks."""
    real = App.platform

    def install(refused: Callable[[int], bool]) -> None:
        def platform(self: App, **kwargs: Any) -> Refuses:
            return Refuses(real(self, **kwargs), refused)

        monkeypatch.setattr(App, "platform", platform)

    yield install


def test_a_push_only_sync_with_the_national_side_down_exits_1_and_status_calls_it_no_delivery(h: Harness) -> None:
    followups_waiting(h, 2)
    h.simulator.set_faults(FaultPlan({"http_500": 1.0}, name="the national side is down"))

    down = lapor_sync(h, "sync", "--push-only")

    assert down.exit_code == EXIT_RUN_FAILED, down.output
    assert ": ok, nothing delivered" in " ".join(down.stdout.split())  # the title, however it wraps
    assert "not everything was delivered: 0 pushed, 2 failed (retried later), 0 dead letters" in down.stdout
    status = json.loads(lapor_sync(h, "status", "--json").stdout)
    attempt, delivered = status["last_push_attempt"], status["last_push_delivered"]
    assert (attempt["pushed"], attempt["failed"], attempt["dead_lettered"]) == (0, 2, 0)
    assert delivered is None  # the pushes of h.new_case() found the outbox empty: no delivery ever
    assert (
        f"last push attempt (run #{attempt['run_id']}) delivered nothing: 2 attempts failed, 0 dead letters "
        "(lapor-sync outbox)" in status["reasons"]
    )
    shown = lapor_sync(h, "status").stdout
    assert "last successful push" not in shown
    assert f"run #{attempt['run_id']}: 0 delivered, 2 failed, 0 dead letters" in shown


def test_a_push_only_sync_that_delivers_some_rows_and_not_others_exits_4(
    h: Harness, refuse_followups: Callable[[Callable[[int], bool]], None]
) -> None:
    refused, _delivered = followups_waiting(h, 2)
    refuse_followups(lambda complaint_id: complaint_id == refused)

    partly = lapor_sync(h, "sync", "--push-only", "--json")

    assert partly.exit_code == EXIT_PARTLY_FAILED, partly.output
    run = json.loads(partly.stdout)
    assert (run["outcome"], run["verdict"], run["pushed"], run["failed"]) == ("ok", "partly_failed", 1, 1)
    status = json.loads(lapor_sync(h, "status", "--json").stdout)
    assert status["last_push_delivered"]["run_id"] == status["last_push_attempt"]["run_id"] == run["run_id"]

    again = lapor_sync(h, "sync", "--push-only", "--json")  # nothing due: the refused row waits its retry
    assert again.exit_code == 0 and json.loads(again.stdout)["verdict"] == "ok"


def test_worker_once_exits_1_when_its_push_delivered_nothing_and_4_when_it_delivered_part(
    h: Harness, refuse_followups: Callable[[Callable[[int], bool]], None]
) -> None:
    cases = [h.new_case() for _ in range(4)]
    for complaint_id in cases[:2]:
        h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas akan survei lokasi.")
    refuse_followups(lambda _complaint_id: True)

    assert lapor_sync(h, "worker", "--once").exit_code == EXIT_RUN_FAILED  # the pull and reconcile went well

    for complaint_id in cases[2:]:  # the two rows before wait their retry: not due
        h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas akan survei lokasi.")
    refused = cases[2]
    refuse_followups(lambda complaint_id: complaint_id == refused)

    assert lapor_sync(h, "worker", "--once").exit_code == EXIT_PARTLY_FAILED

    refuse_followups(lambda _complaint_id: False)
    assert lapor_sync(h, "worker", "--once").exit_code == 0  # nothing due, nothing failed
