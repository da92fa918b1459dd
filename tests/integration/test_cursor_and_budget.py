"""The inbox cursor with the date of its last proven walk, and the recheck budget's day count, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lapor_sync.storage.database import Database
from lapor_sync.sync.cursor import InboxCursor, advance_cursor, read_inbox_cursor
from lapor_sync.sync.recheck import record_spent, spent_on

MARK = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)
NOW = MARK + timedelta(hours=1)
MINUTE = timedelta(minutes=1)
INSTITUTION = 6271


def advance(db: Database, position: datetime, walked_at: datetime | None) -> bool:
    with db.session() as session:
        moved = advance_cursor(session, INSTITUTION, position, NOW, walked_at=walked_at)
        session.commit()
    return moved


def cursor(db: Database) -> InboxCursor | None:
    with db.session() as session:
        return read_inbox_cursor(session, INSTITUTION)


def test_the_cursor_keeps_the_date_of_its_last_proven_walk(database: Database) -> None:
    assert advance(database, MARK, NOW) is True
    assert cursor(database) == InboxCursor(MARK, NOW)

    # An idle pull whose walk proved itself later: the mark stays, the date moves on.
    assert advance(database, MARK, NOW + MINUTE) is False
    assert cursor(database) == InboxCursor(MARK, NOW + MINUTE)

    # A pull without a proven walk moves the mark and keeps the date: it still speaks of the rows it saw.
    assert advance(database, MARK + MINUTE, None) is True
    assert cursor(database) == InboxCursor(MARK + MINUTE, NOW + MINUTE)


def test_an_older_position_changes_neither_the_mark_nor_its_date(database: Database) -> None:
    advance(database, MARK, NOW)

    assert advance(database, MARK - MINUTE, NOW + 5 * MINUTE) is False
    assert cursor(database) == InboxCursor(MARK, NOW)


def test_the_recheck_budget_counts_per_wib_day_and_starts_again_the_next(database: Database) -> None:
    today, tomorrow = date(2024, 3, 4), date(2024, 3, 5)
    with database.session() as session:
        assert spent_on(session, "recheck:6271", today) == 0
        record_spent(session, "recheck:6271", today, 42, NOW)
        session.commit()
    with database.session() as session:
        assert spent_on(session, "recheck:6271", today) == 42
        assert spent_on(session, "recheck:6271", tomorrow) == 0
        assert spent_on(session, "recheck:9999", today) == 0
        record_spent(session, "recheck:6271", tomorrow, 3, NOW + timedelta(days=1))
        session.commit()
    with database.session() as session:
        assert spent_on(session, "recheck:6271", tomorrow) == 3
