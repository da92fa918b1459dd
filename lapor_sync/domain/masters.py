"""Master data of the national platform: the institutions it knows and its reply templates (CONTRACT §7 G8).

What a list read from LAPOR! holds (:class:`MasterList`), and how it compares with what the city
stored last time (:func:`compare`): rows added, changed, back after being gone, or gone. Nothing
here reads or writes; ``lapor_sync.sync.admin.masters`` stores the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class MasterInstitution:
    """An institution the platform lists in ``GET /masters/institutions/external``: ``{id, name}`` (G8)."""

    id: int
    name: str

    @property
    def key(self) -> str:
        """The row's identity in the list: its national id, as text."""
        return str(self.id)


@dataclass(frozen=True, slots=True)
class ReplyTemplate:
    """A reply template of ``GET /masters/templates``, known by its ``template_code`` (G8).

    ``national_id`` is the platform's own id of the template when it sends one; ``name`` and
    ``content`` are this contract's names for its title and text (assumed, see the README).
    """

    code: str
    name: str
    content: str
    national_id: int | None = None

    @property
    def key(self) -> str:
        """The row's identity in the list: its ``template_code``."""
        return self.code


Row = TypeVar("Row", MasterInstitution, ReplyTemplate)


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A row of a master list that could not be read, set aside with its reason (field names, never values).

    ``key`` is its id or code when that much could be read, else ``None``.
    """

    key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class MasterList(Generic[Row]):
    """One master list as the platform answered it: the rows read, and the rows set aside."""

    rows: tuple[Row, ...]
    unreadable: tuple[UnreadableRow, ...] = ()


class ChangeKind(StrEnum):
    """What happened to one row since the last pull; ``lapor-sync masters pull`` shows these words."""

    ADDED = "added"
    CHANGED = "changed"
    BACK = "back"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class MasterChange:
    """One row that differs from what was stored.

    Attributes:
        kind: added, changed (a renamed institution, a template with a new name or text), back
            (listed again after it was gone) or gone (no longer listed).
        key: the institution's id or the template's code.
        name: its name now (gone: its last known name).
        before: its name before, when the name changed.
        fields: the fields that changed (``name``, ``content``, ``national_id``), for ``changed`` and ``back``.
    """

    kind: ChangeKind
    key: str
    name: str
    before: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Known(Generic[Row]):
    """A stored row and whether it was marked gone."""

    row: Row
    gone: bool = False


class EmptyListRefused(Exception):  # noqa: N818 - not a fault of the code: a refusal
    """The platform listed no readable row while rows are stored: taken for a fault, never for "all gone"."""


def compare(known: Mapping[str, Known[Row]], fresh: MasterList[Row]) -> list[MasterChange]:
    """Compare a freshly read list with the stored rows, by key; changes in the list's order, gone ones last.

    A row set aside as unreadable is neither changed nor gone: its stored copy stays as it was. When
    an unreadable row's key could not be read at all, no row is marked gone this time, since that
    row may be any of them.

    Raises:
        EmptyListRefused: no readable row came while rows that are not gone are stored.
    """
    if not fresh.rows and any(not stored.gone for stored in known.values()):
        raise EmptyListRefused
    changes: list[MasterChange] = []
    listed = {row.key for row in fresh.rows}
    for row in fresh.rows:
        stored = known.get(row.key)
        if stored is None:
            changes.append(MasterChange(ChangeKind.ADDED, row.key, row.name))
            continue
        differ = tuple(name for name in _field_names(row) if getattr(row, name) != getattr(stored.row, name))
        before = stored.row.name if "name" in differ else None
        if stored.gone:
            changes.append(MasterChange(ChangeKind.BACK, row.key, row.name, before, differ))
        elif differ:
            changes.append(MasterChange(ChangeKind.CHANGED, row.key, row.name, before, differ))
    if any(unreadable.key is None for unreadable in fresh.unreadable):
        return changes
    held_back = {unreadable.key for unreadable in fresh.unreadable}
    changes.extend(
        MasterChange(ChangeKind.GONE, key, stored.row.name)
        for key, stored in known.items()
        if not stored.gone and key not in listed and key not in held_back
    )
    return changes


def _field_names(row: MasterInstitution | ReplyTemplate) -> Sequence[str]:
    """The fields that may change under one key (all but the key itself)."""
    return [field.name for field in fields(row) if field.name not in ("id", "code")]


@dataclass(frozen=True, slots=True)
class UnknownInstitution:
    """A national institution the mapping file names that the platform's master list does not hold.

    ``where`` says where the file names it (``institution``, ``agency PUPR``, ``outside_institution``);
    ``gone_at`` (UTC) is when the list stopped holding it, ``None`` when it never did.
    """

    id: int
    where: str
    gone_at: datetime | None = None


def unknown_institutions(
    mapped: Iterable[tuple[int, str]], listed: Mapping[int, datetime | None]
) -> list[UnknownInstitution]:
    """The mapped institutions the platform does not know: absent from ``listed``, or gone from it.

    Args:
        mapped: ``(national id, where)`` pairs, as ``CityMapping.national_institutions`` gives them.
        listed: the stored master institutions, national id -> the instant it went (``None`` while listed).
    """
    found = []
    for national_id, where in mapped:
        if national_id not in listed:
            found.append(UnknownInstitution(national_id, where))
        elif (gone_at := listed[national_id]) is not None:
            found.append(UnknownInstitution(national_id, where, gone_at))
    return found
