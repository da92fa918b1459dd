"""The clock that lease and claim expiry are measured by: the database's own, where the engine has one.

Several processes, perhaps on several hosts, compare one stored expiry with "now". If each used
its own clock, a host whose clock runs ahead (or a clock stepped forward) would see a live
holder's lease or claim as expired and take it. PostgreSQL is one server with one clock, so its
``clock_timestamp()`` is read in the very statement that compares or writes the expiry. SQLite is
embedded: its clock is the process's, so there the injected :class:`~lapor_sync.domain.clock.Clock`
is used (and a stepped clock is answered by the holder's liveness, see
:mod:`lapor_sync.storage.holders`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Interval, func, type_coerce
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement, literal

from lapor_sync.storage.types import UTCDateTime


def has_clock(bind: Engine | Connection) -> bool:
    """Tell whether the database keeps its own clock (PostgreSQL) rather than borrowing ours (SQLite)."""
    return bind.dialect.name == "postgresql"


def now_sql(bind: Engine | Connection, local_now: datetime) -> ColumnElement[datetime]:
    """Return "now" as a SQL expression: the server's ``clock_timestamp()``, or ``local_now`` (aware) on SQLite."""
    if has_clock(bind):
        return func.clock_timestamp(type_=UTCDateTime)
    return literal(local_now, UTCDateTime)


def later_sql(bind: Engine | Connection, local_now: datetime, seconds: float) -> ColumnElement[datetime]:
    """``seconds`` after "now" (see :func:`now_sql`), as a SQL expression."""
    if has_clock(bind):
        return type_coerce(func.clock_timestamp() + literal(timedelta(seconds=seconds), Interval()), UTCDateTime)
    return literal(local_now + timedelta(seconds=seconds), UTCDateTime)
