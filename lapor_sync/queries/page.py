"""One page of a listing, and the keyset paging every listing shares (by id: newest first, or oldest first)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
"""The most rows one page holds, whatever the caller asks: a page must stay cheap at a city's volume."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows of one page, and where the next (older) page starts.

    Attributes:
        rows: the page's rows, in the listing's order.
        next_before: newest first: pass it as ``before_id`` to get the next page; ``None`` when this page is the last.
        next_after: oldest first: pass it as ``after_id`` to get the next page; ``None`` when this page is the last.
    """

    rows: list[T]
    next_before: int | None
    next_after: int | None = None


def capped(limit: int) -> int:
    """Return ``limit`` held within 1 and :data:`MAX_LIMIT`."""
    return max(1, min(limit, MAX_LIMIT))


def newest_first(
    session: Session,
    query: SelectOfScalar[T],
    id_column: ColumnElement[Any],
    *,
    before_id: int | None,
    limit: int,
    row_id: Callable[[T], int | None],
) -> Page[T]:
    """Run ``query`` as one page ordered by ``id_column`` descending, rows with an id below ``before_id``.

    One row more than the page is read: its presence alone says whether a next page exists, so no
    count is ever run (a count over a million events would cost more than the page).

    Args:
        session: a session on the city's database.
        query: the filtered select.
        id_column: the id column the keyset runs on (unique, indexed).
        before_id: only rows with a lower id (the previous page's ``next_before``); ``None``: from the newest.
        limit: rows per page, capped by :func:`capped`.
        row_id: the id of one row of the result.

    Returns:
        The page; ``next_before`` is the id of its last row when more rows follow.
    """
    if before_id is not None:
        query = query.where(id_column < before_id)
    rows, next_id = _read(session, query.order_by(id_column.desc()), limit, row_id)
    return Page(rows, next_id)


def oldest_first(
    session: Session,
    query: SelectOfScalar[T],
    id_column: ColumnElement[Any] | Any,
    *,
    after_id: int | None,
    limit: int,
    row_id: Callable[[T], int | None],
) -> Page[T]:
    """Run ``query`` as one page ordered by ``id_column`` ascending, rows with an id above ``after_id``.

    The same as :func:`newest_first` the other way round (a queue read in the order it is served).

    Returns:
        The page; ``next_after`` is the id of its last row when more rows follow.
    """
    if after_id is not None:
        query = query.where(id_column > after_id)
    rows, next_id = _read(session, query.order_by(id_column), limit, row_id)
    return Page(rows, None, next_id)


def _read(
    session: Session, query: SelectOfScalar[T], limit: int, row_id: Callable[[T], int | None]
) -> tuple[list[T], int | None]:
    """The first ``limit`` rows (capped) of the ordered ``query``, and the last one's id when more follow."""
    size = capped(limit)
    rows: Sequence[T] = session.exec(query.limit(size + 1)).all()
    page = list(rows[:size])
    return page, row_id(page[-1]) if len(rows) > size else None


def collect(fetch: Callable[[int | None, int], Page[T]], limit: int) -> list[T]:
    """The first ``limit`` rows of a listing, over as many pages as that takes (the CLI's ``--limit``).

    Args:
        fetch: one page, given where it starts (the previous page's ``next_before``, or ``next_after``
            for a listing oldest first; ``None`` for the first page) and the rows still wanted (e.g. a
            ``search_*`` call).
        limit: how many rows at most, may exceed :data:`MAX_LIMIT`.

    Returns:
        The rows, in the listing's order.
    """
    rows: list[T] = []
    start: int | None = None
    while len(rows) < limit:
        page = fetch(start, limit - len(rows))
        rows += page.rows
        start = page.next_before if page.next_before is not None else page.next_after
        if start is None:
            break
    return rows
