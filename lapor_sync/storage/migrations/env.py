"""Alembic environment: runs migrations on the engine handed over by ``Database.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine
from sqlmodel import SQLModel

from lapor_sync.storage import models  # noqa: F401  (registers the tables on the metadata)
from lapor_sync.storage.database import check_foreign_keys, migration_engine, serialise_migrations
from lapor_sync.storage.trigram import not_trigram

config = context.config


def run(connection: Connection) -> None:
    """Run the pending migrations on ``connection`` in one transaction, and commit.

    ``transactional_ddl``: alembic would otherwise commit SQLite migrations one by one; the
    connection comes from :func:`~lapor_sync.storage.database.migration_engine`, whose SQLite
    transactions hold DDL too, so all of them commit together or not at all.
    """
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=not_trigram,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        serialise_migrations(connection)
        context.run_migrations()
        check_foreign_keys(connection)
    connection.commit()


engine: Engine = config.attributes.get("engine") or migration_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    run(connection)
