"""The database's disk full, on a small file system the test mounts: said as such, nothing lost, nothing sent twice.

SQLite said ``database or disk is full`` (or ``disk I/O error``) and ``status`` said the database
was writable: a rolled-back probe writes nothing to the disk. Each test mounts a tmpfs of its own
(root only; skipped with its reason elsewhere, failed under ``CI=true``), fills it with a file
(completely, or leaving less than a pull needs), then frees it and checks the invariants.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import Accounts
from lapor_sync.app import App
from lapor_sync.checks.invariants import InvariantReport, check_invariants
from lapor_sync.config.settings import Settings
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock, SystemClock
from lapor_sync.reports.health import Health
from lapor_sync.storage.disk_space import postgres_disk_full, sqlite_disk_full
from lapor_sync.storage.models import Lease, OutboxItem, SyncRun
from lapor_sync.web.app import create_console
from tests.e2e.test_worker import add_social_complaint, spec, worker_lines, worker_on
from tests.support.cli import seed
from tests.support.e2e import CITY, Harness, child_env, harness, run_command, small_world
from tests.support.factories import T0
from tests.support.full_disk import fill, run_sync_that_fills_the_disk
from tests.web.conftest import PASSWORD, ConsoleHarness, csrf_of

pytestmark = pytest.mark.e2e
DISK_BYTES = 8 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 8 MiB mounted for the test; skipped where it cannot be mounted, failed under ``CI=true``."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs for a full disk (needs root): {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true it must run, not skip")
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def outbox_and_cursor(h: Harness) -> tuple[list[tuple[int, str, int]], object]:
    with h.app.db.session() as session:
        rows = [(row.id, row.state, row.attempts) for row in session.exec(select(OutboxItem).order_by(OutboxItem.id))]
    return rows, h.cursor()


def followup_waiting(h: Harness) -> int:
    """Sync a new case in and write one follow-up of it to the outbox; the case's complaint id."""
    complaint_id = add_social_complaint(h)
    assert h.sync().outcome == "ok"
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
    return complaint_id


def zero_lost_zero_duplicated(h: Harness) -> InvariantReport:
    """Sync until settled, then check: every complaint stored, every follow-up on LAPOR! exactly once."""
    for _ in range(2):  # the first delivers what waited; the second reads back what that changed nationally
        h.advance(timedelta(minutes=10))
        assert h.sync().outcome == "ok"
    report = check_invariants(h.simulator, h.app.db, CITY, overlap=timedelta(seconds=h.app.settings.overlap_seconds))
    assert report.ok, [finding for finding in report.findings if finding.count]
    return report


def test_a_full_disk_is_said_as_a_full_disk_keeps_cursor_and_outbox_and_the_next_sync_after_freeing_completes(
    small_disk: Path,
) -> None:
    url = f"sqlite:///{small_disk / 'lapor-sync.db'}"
    with harness(small_world(), url) as h:
        followup_waiting(h)
        for _ in range(20):
            add_social_complaint(h)
        before = outbox_and_cursor(h)
        env = child_env(url, h.base_url)
        filler = fill(small_disk)

        synced = run_command(env, "sync", timeout=120)
        status = run_command(env, "status", "--json", timeout=120)
        after = outbox_and_cursor(h)
        filler.unlink()
        report = zero_lost_zero_duplicated(h)

    assert synced.returncode == 2, synced.stderr
    line = synced.stderr.strip().splitlines()[-1]
    assert line.startswith("error: LAPOR_SYNC_DATABASE_URL: cannot use the database: the disk is full: "), line
    assert f"free in {small_disk}, the database's folder" in line and "free space there" in line
    assert "disk I/O error" not in line
    assert status.returncode == 2, status.stdout
    assert f"the disk is full: 0 B free in {small_disk}" in status.stdout
    assert after == before, "the cursor and the outbox stay exactly as they were"
    assert report.followups_expected == report.followups_found == 1


def test_a_nearly_full_disk_fails_the_worker_s_healthz_until_space_returns_then_it_carries_on(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="lapor_sync")
    url = f"sqlite:///{small_disk / 'lapor-sync.db'}"
    with harness(small_world(), url) as h, worker_on(h) as w:
        followup_waiting(h)
        for _ in range(150):
            add_social_complaint(h)  # a pull of these writes more than the 64 KiB left
        cursor = h.cursor()
        filler = fill(small_disk, leave=64 * 1024)

        pulled = w.runner.tick(spec(w, "pull"), claim=False)
        pushed = w.runner.tick(spec(w, "push"), claim=False)
        while_full = w.assess()
        cursor_while_full = h.cursor()
        filler.unlink()
        again = w.runner.tick(spec(w, "pull"), claim=False)
        recovered = w.assess()
        report = zero_lost_zero_duplicated(h)

    assert pulled is None and cursor_while_full == cursor
    assert pushed is None or pushed.outcome == "ok"  # the push may get its one row through, or not
    assert while_full.health is Health.FAILING
    assert any("the disk is full: " in reason and str(small_disk) in reason for reason in while_full.reasons), (
        while_full.reasons
    )
    [failing] = worker_lines(caplog, "storage failing:")[:1]
    assert "the disk is full: " in failing and "disk I/O error" not in failing
    assert again is not None and again.outcome == "ok"
    assert not any("the disk is full" in reason for reason in recovered.reasons)
    assert worker_lines(caplog, "storage recovered:")
    assert report.followups_expected == report.followups_found == 1


def test_sqlite_s_disk_i_o_error_on_a_full_disk_is_said_as_a_full_disk_and_on_a_roomy_one_is_not(
    small_disk: Path, tmp_path: Path
) -> None:
    shm_size_failed = sqlite3.OperationalError("disk I/O error")
    shm_size_failed.sqlite_errorcode = 10 | (19 << 8)  # SQLITE_IOERR_SHMSIZE: growing the -shm file met ENOSPC
    fill(small_disk)

    on_full = sqlite_disk_full(shm_size_failed, str(small_disk / "lapor-sync.db"))
    on_roomy = sqlite_disk_full(shm_size_failed, str(tmp_path / "lapor-sync.db"))

    assert on_full == f"the disk is full: 0 B free in {small_disk}, the database's folder (SQLite: disk I/O error)"
    assert on_roomy is None  # an I/O error with room left is the disk's own: said as SQLite says it


def test_postgresql_s_disk_full_is_said_as_the_server_s_disk_without_a_local_path() -> None:
    class DiskFull(Exception):
        sqlstate = "53100"

    error = DiskFull('could not extend file "base/16384/16397": No space left on device\nHINT:  Check free disk space.')

    assert postgres_disk_full(error) == (
        'the database server\'s disk is full (PostgreSQL: could not extend file "base/16384/16397": '
        "No space left on device); free space on the server"
    )


def test_the_lease_of_a_sync_that_exited_on_a_full_disk_does_not_hold_up_the_next_sync(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'lapor-sync.db'}"
    with harness(small_world(), url) as h:
        assert h.sync().outcome == "ok"
        add_social_complaint(h)

        died = run_sync_that_fills_the_disk(h.base_url, url, small_disk)  # holding the pull lease
        (small_disk / "filler").unlink()
        with h.app.db.engine.connect() as conn:
            left_behind = conn.execute(select(Lease.holder)).scalars().all()
        after = run_command(child_env(url, h.base_url, lease_wait_seconds=0), "sync", "--json", timeout=120)

    assert died.returncode != 0 and "lease of job 'pull' not released" in died.stderr, died.stderr
    [holder] = set(left_behind)  # the full disk refused even the releases (pull and push)
    assert after.returncode == 0, after.stderr
    assert "busy" not in after.stderr
    assert f"lease of job 'pull' taken over from {holder}: that process has ended" in after.stderr


def test_a_run_stopped_by_a_full_disk_is_recorded_as_a_full_disk_not_as_an_internal_error(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'lapor-sync.db'}"
    with harness(small_world(), url) as h:
        assert h.sync().outcome == "ok"
        for _ in range(300):
            add_social_complaint(h)  # a pull of these writes more than the 256 KiB left
        filler = fill(small_disk, leave=256 * 1024)
        with pytest.raises(OperationalError):
            h.sync()
        filler.unlink()
        with h.app.db.session() as session:
            run = session.exec(select(SyncRun).order_by(col(SyncRun.id).desc())).first()

    assert run is not None and run.outcome == "failed"
    assert run.error is not None and run.error.startswith("cannot use the database: the disk is full: "), run.error
    assert str(small_disk) in run.error and "internal error" not in run.error


def test_a_console_action_on_a_full_disk_answers_a_page_saying_so_not_an_internal_server_error(
    small_disk: Path, clean_env: None
) -> None:
    url = f"sqlite:///{small_disk / 'lapor-sync.db'}"
    app = App(Settings(database_url=url, api_base_url="http://127.0.0.1:9"), clock=SystemClock())
    console = ConsoleHarness(create_console(app), app, ManualClock(T0), seed(url), Accounts(app.db, app.clock), None)  # type: ignore[arg-type]
    console.accounts.add("admin", Role.ADMIN, PASSWORD)
    browser = console.client(accept_language="en")
    csrf = csrf_of(browser, "/sign-in")
    try:
        filler = fill(small_disk)
        page = browser.post("/sign-in", data={"name": "admin", "password": PASSWORD, "csrf_token": csrf})
        filler.unlink()
        csrf = csrf_of(browser, "/sign-in")
        again = browser.post("/sign-in", data={"name": "admin", "password": PASSWORD, "csrf_token": csrf})
    finally:
        browser.close()
        app.db.dispose()

    assert page.status_code == 503, page.text
    assert "The database cannot be used (LAPOR_SYNC_DATABASE_URL): the disk is full: 0 B free in " in page.text
    assert str(small_disk) in page.text and "Traceback" not in page.text
    assert again.status_code == 303  # space freed: signed in
