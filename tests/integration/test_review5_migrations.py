"""Review (issue 5): the migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from lapor_sync.storage import models  # noqa: F401  (registers the tables on the metadata)
from lapor_sync.storage.database import Database


def test_review_a_freshly_upgraded_database_matches_the_models(database: Database) -> None:
    # What `alembic revision --autogenerate` would write now: nothing, or a model changed without its migration.
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, SQLModel.metadata)

    assert differences == []
