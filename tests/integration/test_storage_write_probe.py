"""The write probe of ``status``, ``/healthz`` and ``/metrics``: quick behind another writer, and no fault for it.

With the sessions' 30 s busy timeout, a probe behind a long write on SQLite held ``/healthz`` for
30 s and then called the database unwritable ("database is locked"): a liveness probe would have
restarted a healthy worker. On PostgreSQL a migration's lock held it for as long as the migration.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lapor_sync.storage import faults
from lapor_sync.storage.database import SQLITE_BUSY_TIMEOUT_MS, Database

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)

pytestmark = pytest.mark.postgres


def test_a_probe_behind_another_writer_is_quick_and_finds_no_fault(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults, "PROBE_LOCK_WAIT_MS", 300)
    with database.engine.connect() as writer:
        if database.engine.dialect.name == "sqlite":
            holder = sqlite3.connect(make_url(database.url).database)
            holder.execute("BEGIN IMMEDIATE")  # a run's write transaction, under way
        else:
            holder = None
            writer.execute(text("LOCK TABLE cursor IN ACCESS EXCLUSIVE MODE"))  # as a migration does
        try:
            started = time.monotonic()
            fault = faults.probe_write(database, NOW)
            took = time.monotonic() - started
        finally:
            if holder is not None:
                holder.rollback()
                holder.close()
            writer.rollback()

    assert fault is None
    assert took < 2.0, f"the probe waited {took:.1f} s behind the lock"
    assert faults.probe_write(database, NOW) is None  # and the database is writable once it is free


def test_the_probe_gives_its_connection_back_the_sessions_busy_timeout(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'probe.db'}")
    db.upgrade()
    try:
        assert faults.probe_write(db, NOW) is None
        with db.engine.connect() as connection:  # the pool's one connection, the probe's
            timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        db.dispose()

    assert timeout == SQLITE_BUSY_TIMEOUT_MS
