"""``--limit`` above one console page (200 rows) still lists that many, as the CLI did before the console."""

from __future__ import annotations

from datetime import UTC, datetime

from lapor_sync.queries.page import MAX_LIMIT
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxItem, SetAsideRecord
from tests.support.cli import CITY, Seeded, cli_env, invoke_json, outbox_row, seeded

__all__ = ["cli_env", "seeded"]  # fixtures

MORE = MAX_LIMIT + 5


def _add_dead_letters(seeded: Seeded, count: int) -> None:
    template = outbox_row(seeded.url, seeded.dead_outbox)
    db = Database(seeded.url)
    with db.session() as session:
        for n in range(count):
            values = template.model_dump(exclude={"id"})
            values["idempotency_key"] = f"limit-test-{n}"
            session.add(OutboxItem(**values))
        session.commit()
    db.dispose()


def _add_set_aside(seeded: Seeded, count: int) -> None:
    now = datetime.now(UTC)
    db = Database(seeded.url)
    with db.session() as session:
        for n in range(count):
            session.add(
                SetAsideRecord(
                    institution_id=CITY, reason=f"malformed {n}", raw="{}", first_seen_at=now, last_seen_at=now
                )
            )
        session.commit()
    db.dispose()


def test_outbox_limit_above_one_page_lists_every_row_asked_for_oldest_first(seeded: Seeded) -> None:
    _add_dead_letters(seeded, MORE)

    rows = invoke_json("outbox", "--state", "dead", "--limit", str(MORE + 1))

    assert len(rows) == MORE + 1  # the seeded dead letter and the ones added
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_set_aside_limit_above_one_page_lists_every_record_asked_for_newest_first(seeded: Seeded) -> None:
    _add_set_aside(seeded, MORE)

    rows = invoke_json("set-aside", "--limit", str(MORE))

    assert len(rows) == MORE
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
