"""A dry run's view of the database: the same code runs, and every session's writes are rolled back.

Why not one long transaction rolled back at the end: on SQLite it would hold the write lock for
the whole run and make the worker wait; here each unit of work keeps its own short transaction,
and only its ``commit`` is replaced by a ``flush`` (so the SQL runs, constraints are checked and
later reads in the same session see the change) followed by a rollback when the session closes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlmodel import Session

from lapor_sync.storage.database import Database


class _FlushOnlySession(Session):
    """A session whose ``commit`` sends the changes without making them durable."""

    def commit(self) -> None:
        """Flush instead of committing; the owner rolls the transaction back."""
        self.flush()


class RolledBackDatabase(Database):
    """``db`` seen through sessions that never commit (for ``--dry-run``).

    Args:
        db: the real database; its engine is shared, nothing is copied.
        prepare: called on each new session before the caller gets it (e.g. to add the agencies a
            new mapping names, which the rolled-back changes refer to); rolled back with the rest.
    """

    def __init__(self, db: Database, prepare: Callable[[Session], object] | None = None) -> None:  # noqa: D107
        # Not Database.__init__: that would build a second engine on the same URL.
        self.url, self.engine = db.url, db.engine
        self._prepare = prepare

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session whose commits only flush; everything it wrote is rolled back on the way out."""
        with _FlushOnlySession(self.engine, expire_on_commit=False) as session:
            try:
                if self._prepare is not None:
                    self._prepare(session)
                yield session
            finally:
                session.rollback()
