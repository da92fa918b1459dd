"""The inbox watermark: where a pull walks the inbox from, and where the cursor may go once it is done.

CONTRACT §6 in one small object, with no SQL and no HTTP. A pull walks the inbox from the committed
mark minus an overlap window (the query is inclusive; the window covers the clock skew between
LAPOR! and us and the second precision of ``updated_at``), dedupes rows by complaint id and
``updated_at``, and walks again until a pass sees nothing new, since a page-number walk over a live
set can skip a row that moved under it (page drift). The new position is the highest ``updated_at``
stored, held back by every stored row whose last second may still hide a change, and never more
than one overlap window past now; after ``max_passes`` busy walks it stays at the mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from lapor_sync.domain.complaint import InboxItem

SECOND = timedelta(seconds=1)
"""The precision of LAPOR!'s timestamps (CONTRACT §2)."""


def is_settled(updated_at: datetime, checked_at: datetime, overlap: timedelta) -> bool:
    """Tell whether a read came after the second of ``updated_at`` had surely ended.

    ``updated_at`` has second precision (CONTRACT §2), so a change made after our read but within
    the same second leaves it as it was, however long ago that second is. "Surely": one second, plus
    the overlap window for the clock skew between LAPOR! and us.

    Args:
        updated_at: the national ``updated_at`` stored (aware UTC).
        checked_at: when lapor-sync last read the complaint (aware UTC, our clock).
        overlap: the overlap window, the largest clock skew allowed for.

    Returns:
        ``True`` when no change can hide in that second any more.
    """
    return checked_at - updated_at >= overlap + SECOND


class InboxWatermark:
    """The walk and the position of one pull over the inbox (CONTRACT §6).

    Use: for each pass of :meth:`passes`, walk the inbox from :attr:`start`; store each row
    :meth:`seen` calls new, then tell :meth:`stored` what was stored; when the passes are over (and
    every such row is stored: a failed pull asks nothing), :meth:`position` is where the cursor goes.

    Args:
        mark: the committed cursor, or where the very first pull starts (aware UTC).
        overlap: how far before ``mark`` each walk starts again.
        max_passes: walks at most; an inbox still changing after them keeps the cursor at ``mark``.
    """

    def __init__(self, mark: datetime, *, overlap: timedelta, max_passes: int) -> None:
        self.mark = mark
        self.overlap = overlap
        self.max_passes = max_passes
        self._seen: dict[int, datetime] = {}
        self._high = mark
        self._unsettled: list[datetime] = []
        self._new_in_pass = 0
        self._quiet = False

    @property
    def start(self) -> datetime:
        """Where each walk begins (inclusive): the mark minus the overlap window."""
        return self.mark - self.overlap

    def passes(self) -> Iterator[int]:
        """Yield the number of each walk to make (1, 2, ...), until one saw nothing new or ``max_passes`` were made.

        Each walk starts from :attr:`start` again: a row that moved during one walk may have been
        skipped (page drift), and only a walk that saw nothing new shows that none was.
        """
        for number in range(1, self.max_passes + 1):
            self._new_in_pass = 0
            yield number
            if self._new_in_pass == 0:
                self._quiet = True
                return

    def seen(self, item: InboxItem) -> bool:
        """Record an inbox row; return whether it is new to this pull and must be stored.

        A row is new when this pull has not seen its complaint yet, or only with an older
        ``updated_at``; the same complaint with the same ``updated_at`` again (the overlap, the
        next walk) is not.
        """
        last = self._seen.get(item.complaint_id)
        if last is not None and last >= item.updated_at:
            return False
        self._seen[item.complaint_id] = item.updated_at
        self._new_in_pass += 1
        self._high = max(self._high, item.updated_at)
        return True

    def stored(self, updated_at: datetime, *, checked_at: datetime) -> None:
        """Note a row's stored binding; one not yet settled (:func:`is_settled`) holds the position back.

        The position then stays at its ``updated_at``, so the next walk (from there minus the
        overlap) reads that row again and sees a change hidden in its last second.

        Args:
            updated_at: the binding's national ``updated_at`` (aware UTC).
            checked_at: when it was last read (aware UTC).
        """
        if not is_settled(updated_at, checked_at, self.overlap):
            self._unsettled.append(updated_at)

    @property
    def seen_complaints(self) -> frozenset[int]:
        """The ids of the complaints this pull has seen in the inbox (and stored, or set aside)."""
        return frozenset(self._seen)

    @property
    def busy(self) -> bool:
        """Whether every walk made saw something new: the last may have skipped a row that moved."""
        return not self._quiet

    def position(self, now: datetime) -> datetime:
        """Return where the cursor may go once every row seen is stored.

        The highest ``updated_at`` seen, or the mark itself when the inbox was :attr:`busy` (every
        row read is stored, but the next pull must walk them again); held back to the oldest
        unsettled row (:meth:`stored`); and at most one overlap window past ``now``, so a row
        stamped far ahead of our clock (a wrong server clock, a bad record) does not carry the mark
        past rows still to come. The cursor never moves backwards (``advance_cursor``), whatever
        this returns.

        Args:
            now: the instant the pull ends (aware UTC).
        """
        high = self.mark if self.busy else self._high
        return min([high, *self._unsettled, now + self.overlap])
