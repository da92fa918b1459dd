"""Alembic environment: runs migrations on the engine handed over by ``Database.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine
from sqlmodel import SQLModel

from lapor_sync.storage import models  # noqa: F401  (registers the tables on the metadata)
from lapor_sync.storage.database import make_engine

config = context.config


def run(connection: Connection) -> None:
    """Run the pending migrations on ``connection`` and commit."""
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


given: Connection | None = config.attributes.get("connection")
if given is not None:
    run(given)  # Database.upgrade holds a lock on this connection
else:
    engine: Engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        run(connection)
