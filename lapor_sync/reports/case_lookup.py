"""Find one case from what a person types: a case id (``12``) or a tracking id (``#1916449``, or without ``#``)."""

from __future__ import annotations

from dataclasses import dataclass

from lapor_sync.adapters.city.builtin import BuiltinCityRecords, CaseNotFound
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.storage.models import Case


class CaseRefInvalid(LaporSyncError):
    """The text names no case in either form (not a number, nor ``#`` and digits)."""


@dataclass(frozen=True)
class FoundCase:
    """The case a reference names, and a note for people when the reference was read one way of two.

    Attributes:
        case: the case, from the records' session.
        note: e.g. "no case has id 5: taking the case of tracking id #5"; ``None`` when unambiguous.
    """

    case: Case
    note: str | None = None


def find_case(records: BuiltinCityRecords, ref: str) -> FoundCase:
    """Return the case named by ``ref``: a case id (``12``) or a tracking id (``#1916449``).

    A number without ``#`` is a case id; when no case has that id but one has it as its tracking id,
    that case is meant (a tracking id copied from LAPOR! without its ``#``), and the note says so.
    When both exist the case id wins, and the note says how to write the tracking id.

    Args:
        records: the city's records on an open session.
        ref: what was typed; surrounding space ignored.

    Returns:
        The case and the note, if any.

    Raises:
        CaseRefInvalid: ``ref`` is neither form.
        CaseNotFound: no such case; without ``#``, the message says how a tracking id is written.
    """
    ref = ref.strip()
    if ref.startswith("#") and ref[1:].isdigit():
        return FoundCase(records.get_case(tracking_id=ref))
    if ref.isdigit():
        return _case_by_number(records, ref)
    raise CaseRefInvalid(f"expected a case id such as 12 or a tracking id such as '#1916449', got {ref!r}")


def _case_by_number(records: BuiltinCityRecords, number: str) -> FoundCase:
    """The case whose id is ``number``, else the one whose tracking id it is (see :func:`find_case`)."""
    try:
        by_tracking_id: Case | None = records.get_case(tracking_id=number)
    except CaseNotFound:
        by_tracking_id = None
    try:
        case = records.get_case(case_id=int(number))
    except CaseNotFound:
        if by_tracking_id is None:
            raise CaseNotFound(
                f"no case with id {number}, nor with tracking id #{number}; a tracking id is written '#{number}'"
            ) from None
        return FoundCase(by_tracking_id, f"no case has id {number}: taking the case of tracking id #{number}")
    if by_tracking_id is None:
        return FoundCase(case)
    return FoundCase(
        case, f"{number} is taken as case id {number}; for the case of tracking id #{number}, write '#{number}'"
    )
