"""Trigram indexes for the case text search: made on PostgreSQL where ``pg_trgm`` can be had, absent elsewhere.

A search for words in 100,000 cases' titles and contents reads every case without them (some
200 ms on PostgreSQL when nothing matches); a GIN trigram index answers ``ILIKE '%words%'`` from
the index. SQLite has no such index, and a PostgreSQL server without the ``pg_trgm`` extension
(or a role that may not create it) goes without: the search stays correct, only slower. Being
optional, the indexes are not in the models, and comparing the schema with the models skips them.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

TRIGRAM_INDEXES = {"ix_case_title_trgm": "title", "ix_case_content_trgm": "content"}
"""Index name → the ``case`` column it covers."""


def create_trigram_indexes(connection: Connection) -> bool:
    """Create the trigram indexes on PostgreSQL, with ``pg_trgm`` made first if missing and allowed.

    The extension goes into schema ``public`` when it is created here: a schema of its own would
    take it along, and every index using it, when that schema is dropped.

    Args:
        connection: the migration's connection (in its transaction).

    Returns:
        Whether the indexes exist now (False on SQLite or without ``pg_trgm``).
    """
    if connection.dialect.name != "postgresql":
        return False
    schema = _extension_schema(connection)
    if schema is None:
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except DBAPIError:  # not installed on the server, not allowed, or made meanwhile: look again
            pass
        schema = _extension_schema(connection)
    if schema is None:
        return False
    opclass = f"{connection.dialect.identifier_preparer.quote(schema)}.gin_trgm_ops"
    for name, column in TRIGRAM_INDEXES.items():
        connection.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS {name} ON "case" USING gin ({column} {opclass})')
    return True


def drop_trigram_indexes(connection: Connection) -> None:
    """Drop the trigram indexes where they exist (the extension stays: other databases' objects may use it)."""
    if connection.dialect.name == "postgresql":
        for name in TRIGRAM_INDEXES:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def _extension_schema(connection: Connection) -> str | None:
    """The schema ``pg_trgm`` is installed in, or None."""
    return connection.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    ).scalar()


def not_trigram(_obj: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    """Alembic's ``include_object``: leave the optional trigram indexes out of a schema comparison."""
    return not (type_ == "index" and name in TRIGRAM_INDEXES)
