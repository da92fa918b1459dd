"""A push lease lost mid-push (a stepped clock, a killed lock connection) never makes a follow-up go out twice.

The first pusher runs in a thread, held up in a slow POST; the second is a real process started
meanwhile (``sync --push-only`` as the service runs it), which takes the push lease over. Each
outbox row's claim, not the lease, keeps the two from sending one row, and the first run, which
lost its lease, does not end ``ok``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from lapor_sync.app import App
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.reference import find_reference
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncRun
from tests.support.e2e import CITY, DINSOS, Harness, PlatformWrapper, client_for, harness, settings_for, small_world
from tests.support.leases import end_lock_sessions
from tests.support.paths import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
BOUND = 60  # seconds: the longest any step here may wait


class HeldUp(PlatformWrapper):
    """Holds up the first call of ``method`` until released: before it reaches LAPOR!, or after (``answered``)."""

    def __init__(self, inner: Any, method: str, *, answered: bool = False) -> None:
        super().__init__(inner)
        self.method, self.answered = method, answered
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.inner, name)
        if name not in ("post_followup", "list_followups"):
            return call

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            first = name == self.method and self.calls[name] == 1
            if first and not self.answered:
                self._hold()
            result = call(*args, **kwargs)
            if first and self.answered:
                self._hold()
            return result

        return counted

    def _hold(self) -> None:
        self.entered.set()
        assert self.release.wait(BOUND), "the test never released the held-up call"


class Background:
    """Runs ``h.sync(pull=False)`` on ``platform`` in a thread; ``result()`` gives its run row."""

    def __init__(self, h: Harness, platform: HeldUp) -> None:
        self._run: SyncRun | BaseException | None = None
        self._thread = threading.Thread(target=self._target, args=(h, platform), daemon=True)
        self._thread.start()
        assert platform.entered.wait(BOUND), "the first push never reached its held-up call"

    def _target(self, h: Harness, platform: HeldUp) -> None:
        try:
            self._run = h.sync(pull=False, platform=platform)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self._run = exc

    def result(self) -> SyncRun:
        self._thread.join(BOUND)
        assert isinstance(self._run, SyncRun), self._run
        return self._run


def _queue_followups(h: Harness, count: int) -> dict[int, str]:
    """Pull ``count`` new complaints and queue a follow-up on each; return {complaint id: reference}."""
    complaints = [
        h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        for _ in range(count)
    ]
    assert h.sync(push=False).created == count
    return {
        c.complaint_id: h.act(c.complaint_id, AgencyAction.FOLLOWUP, f"Tindak lanjut nomor {n}.").idempotency_key
        for n, c in enumerate(complaints)
    }


def _posted(h: Harness, references: dict[int, str]) -> dict[int, int]:
    """How many follow-ups with our reference each complaint holds on the national side."""
    return {cid: len(h.national_followups(cid, ref)) for cid, ref in references.items()}


def _second_push(h: Harness, *, ahead: timedelta = timedelta(0), host: str | None = None) -> dict[str, Any]:
    """Run a push in another process, its clock ``ahead`` of ours, maybe on a host of another name."""
    code = (
        "import socket, sys\n"
        f"if {host!r}: socket.gethostname = lambda: {host!r}\n"
        "from tests.e2e.test_lease_loss import _push_and_report\n"
        "_push_and_report(*sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, h.base_url, h.app.settings.database_url, (h.clock.now() + ahead).isoformat()],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _push_and_report(base_url: str, database_url: str, now: str) -> None:
    """Child process: one push (``sync --push-only``) with its own manual clock; print its run as JSON."""
    clock = ManualClock(datetime.fromisoformat(now))
    app = App(settings_for(database_url, base_url), clock=clock, purpose="sync")
    with client_for(base_url, clock) as platform:
        run = app.sync_service(platform).run(pull=False)
    print(json.dumps({"outcome": run.outcome, "pushed": run.pushed, "error": run.error}))


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_clock_stepped_past_the_lease_still_posts_every_followup_once(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        references = _queue_followups(h, 5)
        slow = HeldUp(h.platform, "post_followup")
        first = Background(h, slow)  # holds the push lease, its first POST held up

        # A second push whose clock is ten minutes ahead sees the first one's lease expired and takes it.
        second = _second_push(h, ahead=timedelta(minutes=10))
        slow.release.set()
        run = first.result()

        assert _posted(h, references) == dict.fromkeys(references, 1)
        # The rows in the first one's hands (the held-up one, and those beside it) were left alone by the second.
        assert second["outcome"] == "ok" and run.pushed >= 1 and second["pushed"] + run.pushed == 5
        assert run.outcome == "failed" and "lease of job 'push' lost" in (run.error or "")


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_lock_connection_killed_mid_push_posts_every_followup_once_and_fails_the_run(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        references = _queue_followups(h, 5)
        slow = HeldUp(h.platform, "post_followup")
        first = Background(h, slow)

        with h.app.db.engine.connect() as admin:  # the server ends the session holding the push lock
            assert end_lock_sessions(admin, CITY, "push") == [True]
        second = _second_push(h)  # takes the lock the server freed
        slow.release.set()
        run = first.result()

        assert _posted(h, references) == dict.fromkeys(references, 1)
        assert second["outcome"] == "ok" and run.pushed >= 1 and second["pushed"] + run.pushed == 5
        assert run.outcome == "failed"
        assert "lease of job 'push' lost: the database connection holding its lock broke" in (run.error or "")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_pusher_that_lost_its_claim_does_not_post(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        [(complaint_id, reference)] = _queue_followups(h, 1).items()
        h.faults.fail("POST", r"/complaints/followup/add$", status=502)  # may have arrived: read back next time
        assert h.sync(pull=False).failed == 1
        h.faults.clear()
        h.advance(timedelta(hours=1))
        paused = HeldUp(h.platform, "list_followups", answered=True)  # paused after its read-back found nothing
        first = Background(h, paused)

        # Another host whose clock is ten minutes ahead: the first pusher's claim has expired there.
        second = _second_push(h, ahead=timedelta(minutes=10), host="web02-elsewhere")
        paused.release.set()
        run = first.result()

        # The platform client re-checks the claim right before it sends (after any quota wait): the
        # first pusher's call is refused there, so LAPOR! holds the second pusher's copy alone.
        assert len(h.national_followups(complaint_id, reference)) == 1
        assert (second["outcome"], second["pushed"]) == ("ok", 1)
        assert run.outcome == "failed" and run.pushed == 0
        assert "claim on outbox row" in (run.error or "") and "lost" in (run.error or "")
        assert find_reference(h.world.complaint(complaint_id).followups[0].content) == reference


def test_a_run_whose_lease_was_lost_does_not_end_ok(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        _queue_followups(h, 1)
        service = h.service()
        lost: list[str] = []

        def work(journal: Any) -> None:
            (lease,) = journal.leases
            _take_away(h, lease)
            lost.append(lease.job)

        run = service.execute("push", work)

        assert lost == ["push"] and run.outcome == "failed" and "lease of job 'push' lost" in (run.error or "")
        with h.app.db.session() as session:
            assert session.exec(select(SyncRun.outcome).where(SyncRun.id == run.id)).one() == "failed"


def _take_away(h: Harness, lease: Any) -> None:
    """Make ``lease`` lost behind its holder's back: its lock's session ended, or its row taken by another."""
    with h.app.db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            end_lock_sessions(conn, CITY, lease.job)
        else:
            conn.execute(
                text("UPDATE lease SET token = 'someone-else', holder = 'web02:1 worker' WHERE job = :job"),
                {"job": lease.job},
            )
