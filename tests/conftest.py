"""Shared fixtures: databases on SQLite and PostgreSQL, a manual clock, respx, a clean environment, log lines.

The tiers add their own: ``tests/unit/conftest.py`` (lapor-sync on the in-memory fake platform) and
``tests/e2e/conftest.py`` (the harness on the served simulator).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import respx
from sqlalchemy import create_engine, text

from lapor_sync.domain.clock import ManualClock
from lapor_sync.runtime.logs import LogLevel, configure_logging
from lapor_sync.storage.database import Database, normalise_url

POSTGRES_ENV = "LAPOR_SYNC_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    reason = f"PostgreSQL storage tests need {POSTGRES_ENV}, e.g. postgresql://postgres@127.0.0.1:5432/test"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true they must run, not skip")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file, or a fresh schema on PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'lapor-sync.db'}")
        db.upgrade()
        yield db
        db.dispose()
        return
    base = normalise_url(_postgres_url())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    db = Database(f"{base}{separator}options=-csearch_path%3D{schema}")
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at Monday 1 July 2024, 09:00 WIB (02:00 UTC)."""
    return ManualClock(datetime(2024, 7, 1, 2, 0, tzinfo=UTC))


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx in front of every httpx client made in the test; routes not called are no failure."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which a file created without a mode is readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LAPOR_SYNC_* variable of the machine running the tests leaks in (any case: settings read it so)."""
    for name in list(os.environ):
        if name.upper().startswith("LAPOR_SYNC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """The service log at DEBUG, as JSON lines on stderr; returns a reader of the lines written so far."""
    root = logging.getLogger("lapor_sync")
    handlers, level = root.handlers[:], root.level
    configure_logging(LogLevel.DEBUG)
    try:
        yield lambda: capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
