"""The database: engine set-up, schema upgrades through alembic, sessions.

SQLite runs in WAL mode with a busy timeout so a reader never blocks the writer and short write
transactions wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import SingletonThreadPool
from sqlmodel import Session, create_engine

from lapor_sync.storage.disk_space import sqlite_disk_full

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_KEY = 0x4C5331_4D4947  # "LS1" "MIG": one schema migration at a time per PostgreSQL database


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # first: switching to WAL may wait for a lock
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_migration_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's pysqlite recipe for transactional DDL, first half: no transaction begun by the driver.

    The driver starts and ends no transaction by itself here (it would leave DDL outside any, each
    statement committed on its own); :func:`_begin_immediate` begins the migration's one.

    Foreign keys are off while tables are rebuilt (alembic's batch mode drops and re-creates a
    table others refer to; SQLite's ALTER TABLE procedure says the same); :func:`check_foreign_keys`
    checks them before the commit. Both pragmas must come before ``BEGIN``: inside a transaction
    ``foreign_keys`` is silently ignored.
    """
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _begin_immediate(connection: Connection) -> None:
    """The recipe's second half: SQLAlchemy's begin is SQLite's ``BEGIN IMMEDIATE``.

    IMMEDIATE takes the write lock before alembic reads the schema version, so two processes
    migrating a fresh file queue on the busy timeout and the second finds the work done.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def serialise_migrations(connection: Connection) -> None:
    """On PostgreSQL, wait for any other migration of this database, until this transaction ends.

    A transaction-level advisory lock: taken inside the migration's own transaction (before alembic
    reads the schema version), it is released by the commit or the rollback, and it holds behind a
    connection pooler in transaction mode, where a session lock would not. SQLite needs none: the
    migration's ``BEGIN IMMEDIATE`` already holds its write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def check_foreign_keys(connection: Connection) -> None:
    """On SQLite, check every foreign key before a migration commits (they are off meanwhile).

    Raises:
        RuntimeError: rows refer to rows that do not exist; names the tables (never row values).
    """
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise RuntimeError(f"the migration would leave {len(broken)} broken foreign key(s) in: {tables}")


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
        path = _sqlite_file(engine)
        _create_private(path)
        event.listen(engine, "connect", _sqlite_pragmas)
        if path is not None:
            event.listen(engine, "handle_error", partial(_name_the_file, path), retval=True)
    return engine


_FILE_ERRORS = frozenset({"unable to open database file", "attempt to write a readonly database"})
"""SQLite's words when it cannot open or write its file: they name neither the file nor the cause."""


def sqlite_file_problem(path: str) -> str | None:
    """Say why SQLite cannot open or write the database file ``path``, or ``None`` when nothing here tells.

    Checked in order: the folder is missing (or is a file), ``path`` is a folder, the file system is
    mounted read-only, the file cannot be read and written by this user, the folder cannot be written
    (SQLite creates the file there, and its ``-wal`` and ``-shm`` files next to it).
    """
    target = Path(os.path.abspath(path))
    folder = target.parent
    if not folder.exists():
        return f"the folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if target.is_dir():
        return "that is a folder, not a file"
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return f"the file system of {folder} is mounted read-only"
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        return f"no permission to read and write the file (mode {target.stat().st_mode & 0o777:04o})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to create files in the folder {folder} (the database and its -wal and -shm files)"
    return None


class DiskFullError(OperationalError):
    """SQLite could not write its file for want of space: SQLite's own error, plus :attr:`reason`.

    :attr:`reason` says the disk is full, the database's folder and the space left there
    (:func:`lapor_sync.storage.disk_space.sqlite_disk_full`); every report of a database fault uses it.
    """

    reason: str = ""


class SqliteFileError(OperationalError):
    """SQLite could not open or write its file: SQLite's own error, plus :attr:`where` (the file, and why).

    Still an ``OperationalError`` whose driver line is SQLite's, so the worker's log and ``/healthz``
    word it as before (no path there); the CLI's error line at start adds :attr:`where`
    (:func:`lapor_sync.storage.faults.database_fault` with ``name_the_file``).
    """

    where: str = ""


def _name_the_file(path: str, context: ExceptionContext) -> BaseException | None:
    """Turn SQLite's "unable to open database file" into a :class:`SqliteFileError` naming ``path`` and why.

    A full disk ("database or disk is full", or "disk I/O error" with no space left in the folder)
    becomes a :class:`DiskFullError` saying so.
    """
    original = context.original_exception
    full = sqlite_disk_full(original, path) if isinstance(original, sqlite3.Error) else None
    if full is not None:
        disk_full = DiskFullError(context.statement, context.parameters, original, hide_parameters=True)
        disk_full.reason = full
        return disk_full
    if not isinstance(original, sqlite3.OperationalError) or str(original) not in _FILE_ERRORS:
        return None
    named = SqliteFileError(context.statement, context.parameters, original, hide_parameters=True)
    why = sqlite_file_problem(path)
    named.where = f"{path}: {why}" if why else path
    return named


def migration_engine(url: str) -> Engine:
    """Create an engine for migrating ``url``: on SQLite, each of its transactions includes its DDL.

    Python's ``sqlite3`` sends no ``BEGIN`` before DDL, so a migration killed half-way would leave
    some statements committed and its version not (every later upgrade then fails on "duplicate
    column"). Only the migration uses this: the sessions' transactions keep the driver's behaviour,
    which two workers on one WAL file are tested with.
    """
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_migration_pragmas)  # after _sqlite_pragmas
        event.listen(engine, "begin", _begin_immediate)
    return engine


def sqlite_file_missing(url: str) -> bool:
    """True when ``url`` names a SQLite file that does not exist: opening it would create it.

    For a command that only reads what may have been stored (``mapping check``), so that looking
    leaves no empty database behind. Builds an engine without connecting.
    """
    engine = create_engine(normalise_url(url))
    try:
        path = _sqlite_file(engine) if engine.dialect.name == "sqlite" else None
        return path is not None and not os.path.exists(path)
    finally:
        engine.dispose()


def sqlite_path(engine: Engine) -> str | None:
    """The SQLite file of ``engine``; ``None`` for PostgreSQL, a database in memory or one SQLite creates no file for."""
    return _sqlite_file(engine) if engine.dialect.name == "sqlite" else None


def _sqlite_file(engine: Engine) -> str | None:
    """The file SQLite creates for ``engine`` if it is missing; ``None`` when it creates none.

    Every URL form gives the name the driver gets (SQLAlchemy's own connect arguments): a plain
    path, relative or absolute, or with ``uri=true`` an SQLite URI (``file:x.db?mode=rwc``,
    ``file:///abs/x.db``), whose path is percent-decoded. ``None`` for a database in memory and
    for ``mode=ro``, ``mode=rw`` (SQLite creates no file then) or a remote authority.
    """
    (filename, *_), options = engine.dialect.create_connect_args(engine.url)
    if options.get("uri") and filename.startswith("file:"):
        uri = urlsplit(filename)
        if parse_qs(uri.query).get("mode", ["rwc"])[-1] != "rwc" or uri.netloc not in ("", "localhost"):
            return None
        filename = unquote(uri.path)
    return None if filename in ("", ":memory:") else filename


def _create_private(path: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600), before SQLite creates it 0644.

    It holds reporters' identity and complaint texts (UU 27/2022); SQLite gives its ``-wal`` and
    ``-shm`` files the database file's permissions. An existing file keeps the mode it has.
    """
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:  # a missing folder or no permission: SQLite's error, named by _name_the_file, says it
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
        """Create or upgrade the schema to the newest migration (idempotent), all of it in one transaction.

        A process killed mid-way leaves the schema as it was, and the next upgrade starts again.
        Several processes may start on a fresh database at once (two workers, a worker and a manual
        command): they queue, on PostgreSQL on a transaction-level advisory lock (it holds behind
        a pooler in transaction mode too), on SQLite on the write lock its ``BEGIN IMMEDIATE``
        takes (for up to the busy timeout); the first migrates and the others find the schema
        current. A schema already current is only read: no lock is taken, so a command never waits
        behind a worker's write just to learn that.
        """
        config = alembic_config(self.engine)
        if self._at_head(config):
            return
        # A database in memory lives in its engine's one connection (a single-connection pool), so it
        # is migrated there; it dies with the process anyway.
        in_memory = isinstance(self.engine.pool, SingletonThreadPool)
        engine = self.engine if in_memory or self.engine.dialect.name == "postgresql" else migration_engine(self.url)
        try:
            command.upgrade(alembic_config(engine), "head")
        finally:
            if engine is not self.engine:
                engine.dispose()

    def _at_head(self, config: Config) -> bool:
        """Whether the schema is at the newest migration already (one read, no lock)."""
        head = ScriptDirectory.from_config(config).get_current_head()
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision() == head

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
