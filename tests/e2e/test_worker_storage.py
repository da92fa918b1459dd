"""The worker on a database that stops taking writes: one line per change of state, /healthz 503, exit codes.

A read-only database still answers reads, which is what made it look healthy: the pull crashed
with a traceback every tick, ``status`` said ok and ``worker --once`` exited 0. The database is
made read-only the ways an operator meets it: SQLite opened read-only (``mode=ro``; ``chmod 0444``
does not stop root, who runs these tests), PostgreSQL with ``default_transaction_read_only``.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from lapor_sync.app import App
from lapor_sync.domain.clock import SystemClock
from lapor_sync.domain.runs import Verdict
from lapor_sync.reports.health import Health
from lapor_sync.scheduler.worker import Worker
from lapor_sync.storage.database import Database
from lapor_sync.sync.journal import RunJournal
from tests.e2e.test_worker import add_social_complaint, spec, worker_lines, worker_on
from tests.e2e.test_worker_process import free_port
from tests.support.cli import invoke
from tests.support.e2e import CITY, child_env, harness, run_command, small_world

pytestmark = pytest.mark.e2e
READ_ONLY_REASONS = ("attempt to write a readonly database", "cannot execute INSERT in a read-only transaction")


@contextmanager
def refusing_writes(db: Database) -> Iterator[None]:
    """Every connection ``db`` opens in the block refuses writes, as on a database turned read-only meanwhile.

    SQLite: ``PRAGMA query_only`` ("attempt to write a readonly database"); PostgreSQL:
    ``default_transaction_read_only``. The pool is emptied on the way in and out, as a restarted
    database server would.
    """
    statement = (
        "PRAGMA query_only=1" if db.engine.dialect.name == "sqlite" else "SET default_transaction_read_only = on"
    )

    def refuse(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()  # psycopg opened a transaction for the SET: keep it

    db.engine.dispose()
    event.listen(db.engine, "connect", refuse)
    try:
        yield
    finally:
        event.remove(db.engine, "connect", refuse)
        db.engine.dispose()


def read_only_url(db: Database) -> str:
    """A URL that opens ``db`` read-only: SQLite ``mode=ro``, PostgreSQL ``default_transaction_read_only``."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    options = url.query.get("options", "")
    return url.update_query_dict({"options": f"{options} -cdefault_transaction_read_only=on".strip()}).render_as_string(
        hide_password=False
    )


def test_a_database_that_refuses_writes_is_one_line_when_it_fails_and_one_when_it_recovers(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url, pull_interval_seconds=60) as h, worker_on(h) as w:
        add_social_complaint(h)
        pull = spec(w, "pull")
        assert w.runner.tick(pull, claim=False).outcome == "ok"

        with refusing_writes(w.app.db):
            for _ in range(3):
                assert w.runner.tick(pull, claim=False) is None
        # Writable again, but no run has got through yet: the worker still says what its runs met.
        meanwhile = w.assess()

        again = w.runner.tick(pull, claim=False)
        after = w.assess()

    assert again is not None and again.outcome == "ok"
    assert meanwhile.health is Health.FAILING
    assert meanwhile.reasons[0].startswith("the worker's runs cannot use the database since ")
    assert "LAPOR_SYNC_DATABASE_URL" in meanwhile.reasons[0]
    assert not any("the worker's runs" in reason for reason in after.reasons)
    [failing] = worker_lines(caplog, "storage failing:")
    assert "job pull could not use the database (LAPOR_SYNC_DATABASE_URL): " in failing
    assert any(reason in failing for reason in READ_ONLY_REASONS), failing
    assert make_url(database.url).database not in failing  # no URL, no path, no password
    [recovered] = worker_lines(caplog, "storage recovered:")
    assert recovered.startswith("storage recovered: job pull used the database again after")
    assert worker_lines(caplog, "job pull crashed") == []
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a database that refuses writes"
    assert w.metrics.runs.labels("pull", "storage")._value.get() == 3


def test_healthz_answers_503_while_the_database_cannot_be_written(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        worker = Worker(App(h.app.settings, clock=h.clock, purpose="worker"), health_port=free_port())
        assert worker.runner.tick(spec(worker, "pull"), claim=False).outcome == "ok"
        assert worker.http is not None
        worker.scheduler.start(paused=True)  # the jobs have their next run times, and none fires
        worker.http.start()
        healthz = f"{worker.http.url}/healthz"
        try:
            assert httpx.get(healthz, timeout=5).status_code == 200
            with refusing_writes(worker.app.db):
                refused = httpx.get(healthz, timeout=5)
            recovered = httpx.get(healthz, timeout=5)
        finally:
            worker.http.stop()
            worker.scheduler.shutdown(wait=False)
            worker.runner.close()
            worker.app.db.dispose()

    assert refused.status_code == 503 and refused.json()["status"] == "failing"
    [reason] = refused.json()["reasons"]
    assert reason.startswith("the database cannot be written (LAPOR_SYNC_DATABASE_URL): ")
    assert any(text in reason for text in READ_ONLY_REASONS), reason
    assert recovered.status_code == 200


def test_status_exits_2_naming_the_setting_when_the_database_is_read_only(
    database: Database, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    RunJournal(database, SystemClock(), CITY, "pull", "schedule").start().finish()  # a good pull just now
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", database.url)
    assert invoke("status", "--json").exit_code == 0
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", read_only_url(database))

    result = invoke("status", "--json")

    assert result.exit_code == 2, (result.output, result.exception)
    summary = json.loads(result.stdout)
    assert summary["health"] == "failing"
    [reason] = summary["reasons"]
    assert reason.startswith("the database cannot be written (LAPOR_SYNC_DATABASE_URL): ")
    assert any(text in reason for text in READ_ONLY_REASONS), reason
    assert make_url(database.url).database not in result.stdout


def worker_once(database_url: str, base_url: str) -> subprocess.CompletedProcess[str]:
    env = child_env(database_url, base_url)
    return run_command(env, "worker", "--once", timeout=120)


def test_worker_once_exits_non_zero_on_a_read_only_database_without_a_traceback(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        assert h.sync().outcome == "ok"
        result = worker_once(read_only_url(database), h.base_url)

    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    assert "LAPOR_SYNC_DATABASE_URL" in output and "Traceback" not in output and "crashed" not in output
    assert any(reason in output for reason in READ_ONLY_REASONS), output


class Broken:
    """A platform client with a bug: every call raises what no error handling expects."""

    def __getattr__(self, name: str) -> Any:
        def call(*_args: Any, **_kwargs: Any) -> Any:
            if name == "close":
                return None
            raise RuntimeError("a bug in the client")

        return call


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_worker_once_is_not_clean_when_a_job_crashed(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        monkeypatch.setattr(w.app, "platform", lambda **_kwargs: Broken())

        came_to = w.run_once()

    assert came_to is Verdict.FAILED
    assert worker_lines(caplog, "job pull crashed")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_healthz_fails_while_a_job_crashes_at_every_tick_and_passes_once_a_tick_gets_through(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        pull = spec(w, "pull")
        assert w.runner.tick(pull, claim=False).outcome == "ok"
        healthy = w.assess()
        with monkeypatch.context() as patched:  # a crash before any run is recorded: nothing in the database says it
            patched.setattr(w.app, "refresh_mapping", Broken().refresh_mapping)
            for _ in range(2):
                assert w.runner.tick(pull, claim=False) is None
                h.advance(timedelta(minutes=1))
            crashing = w.assess()
        assert w.runner.tick(pull, claim=False).outcome == "ok"
        recovered = w.assess()

    assert healthy.health is Health.OK, healthy.reasons
    assert len(worker_lines(caplog, "job pull crashed")) == 2
    assert crashing.health is Health.FAILING
    assert crashing.reasons[0] == (
        "job pull crashed at every tick since 2024-01-02 09:00 WIB (a bug: the traceback is in the service log)"
    )
    assert recovered.health is Health.OK, recovered.reasons
    assert w.metrics.runs.labels("pull", "crashed")._value.get() == 2


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_healthz_fails_while_the_outbox_watcher_crashes_at_every_look_and_passes_once_a_look_gets_through(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(*_args: Any) -> int:
        raise RuntimeError("a bug in the outbox watcher")

    with harness(small_world(), database.url) as h, worker_on(h) as w:
        assert w.runner.tick(spec(w, "pull"), claim=False).outcome == "ok"
        with monkeypatch.context() as patched:
            patched.setattr("lapor_sync.scheduler.watcher.rows_due_since_last_push", crash)
            looks = [w.watcher.check() for _ in range(2)]  # the scheduler would log a traceback every 5 s
            crashing = w.assess()
        assert w.watcher.check() is False  # nothing due: a look that gets through
        recovered = w.assess()

    assert looks == [False, False]
    assert len(worker_lines(caplog, "job outbox-watch crashed")) == 2
    assert crashing.health is Health.FAILING
    assert crashing.reasons[0] == (
        "job outbox-watch crashed at every tick since 2024-01-02 09:00 WIB (a bug: the traceback is in the service log)"
    )
    assert recovered.health is Health.OK, recovered.reasons
