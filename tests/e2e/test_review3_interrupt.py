"""Review 3 regression: Ctrl-C on a manual ``sync`` ends its run as interrupted, not failed, so health stays as it was."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from lapor_sync.domain.complaint import ComplaintSnapshot
from lapor_sync.domain.errors import TransientError
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.reports.health import Health, assess
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import held_leases
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.journal import INTERRUPTED
from tests.support.e2e import DINSOS, Harness, PlatformWrapper, harness, small_world

pytestmark = pytest.mark.e2e


class CtrlCOnSecondDetail(PlatformWrapper):
    """The admin presses Ctrl-C while the second complaint's detail is being read."""

    details = 0

    def fetch_complaint(self, complaint_id: int) -> ComplaintSnapshot:
        self.details += 1
        if self.details == 2:
            raise KeyboardInterrupt
        return self.inner.fetch_complaint(complaint_id)


def test_ctrl_c_on_a_manual_sync_is_an_interruption_and_does_not_make_health_failing(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync().outcome == "ok"
        for _ in range(2):
            h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))

        with pytest.raises(KeyboardInterrupt):
            h.sync(platform=CtrlCOnSecondDetail(h.platform))

        with h.app.db.session() as session:
            [run] = session.exec(select(SyncRun).where(SyncRun.outcome != "ok")).all()
        assert run.outcome == INTERRUPTED and "Ctrl-C" in run.error
        assert h.events("run.interrupted")
        assert held_leases(h.app.db, h.clock) == []
        with h.app.db.session() as session:
            assert assess(h.app, session).health is not Health.FAILING


class PlatformHangsUntilStopped(PlatformWrapper):
    """LAPOR! stops answering; SIGTERM arrives while the client waits on it."""

    def __init__(self, inner: NationalPlatform, stop: threading.Event) -> None:
        super().__init__(inner)
        self.stop = stop

    def fetch_complaint(self, complaint_id: int) -> ComplaintSnapshot:
        self.stop.set()
        raise TransientError("transport failure (ReadTimeout) talking to the platform")


def test_a_stop_during_a_failing_call_is_an_interruption_not_a_platform_failure(h: Harness) -> None:
    h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
    stop = threading.Event()
    service = h.app.sync_service(PlatformHangsUntilStopped(h.platform, stop), stop=stop)

    run = service.run(push=False)

    assert run.outcome == "interrupted" and "stopped on request" in (run.error or "")
    [event] = h.events("run.interrupted")
    assert "ReadTimeout" in event.message
    assert h.events("run.failed") == []
