"""The database: engine set-up, schema upgrades through alembic, sessions.

SQLite runs in WAL mode with a busy timeout so a reader never blocks the writer and short write
transactions wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_KEY = 0x4C5331_4D4947  # "LS1" "MIG": one schema migration at a time per PostgreSQL database
MIGRATION_ATTEMPTS = 5


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def normalise_url(url: str) -> str:
    """Return ``url`` with a PostgreSQL URL pointed at the psycopg 3 driver we ship.

    ``postgresql://`` alone would make SQLAlchemy look for psycopg2, which is not a dependency.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (any SQLAlchemy URL; SQLite gets WAL and a busy timeout)."""
    url = normalise_url(url)
    # hide_parameters: a database error's text would otherwise quote the row's values (a complaint's
    # content, a reporter's name) into exception texts and the service log.
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"), hide_parameters=True)
    if engine.dialect.name == "sqlite":
        _create_private(engine.url.database)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_private(path: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600), before SQLite creates it 0644.

    It holds reporters' identity and complaint texts (UU 27/2022); SQLite gives its ``-wal`` and
    ``-shm`` files the database file's permissions. An existing file keeps the mode it has.
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:  # a missing folder or no permission: SQLite's own error says it better
        pass


def alembic_config(engine: Engine) -> Config:
    """Return an alembic configuration for this package's migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("lapor_sync.storage") / "migrations"))
    config.attributes["engine"] = engine
    return config


class Database:
    """One database: an engine plus the operations every command needs.

    Args:
        url: a SQLAlchemy URL, such as ``sqlite:///lapor-sync.db`` or
            ``postgresql://postgres@127.0.0.1:5432/lapor``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def upgrade(self) -> None:
        """Create or upgrade the schema to the newest migration (idempotent).

        Several processes may start on a fresh database at once (two workers, a worker and a manual
        command). On PostgreSQL they queue on an advisory lock, so one migrates and the others find
        the schema current. SQLite has no such lock: a process that loses the race to create a table
        tries again and then finds it done.
        """
        config = alembic_config(self.engine)
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
                try:
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
            return
        for attempt in range(1, MIGRATION_ATTEMPTS + 1):
            try:
                command.upgrade(config, "head")
                return
            except (OperationalError, IntegrityError):
                if attempt == MIGRATION_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)  # the other process is mid-migration

    def is_current(self) -> bool:
        """True when the schema exists (the alembic version table is present)."""
        return inspect(self.engine).has_table("alembic_version")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session; the caller commits. Rolled back and closed on the way out."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
