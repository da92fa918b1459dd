"""The inbox watermark: where a pull walks the inbox from, and where the cursor may go once it is done.

CONTRACT §6 in one small object, with no SQL and no HTTP. A pull walks the inbox from the committed
mark minus an overlap window (the query is inclusive; the window covers late commits, the clock
skew between LAPOR! and us and the second precision of ``updated_at``), dedupes rows by complaint id
and ``updated_at``, and walks again until a walk proves that nothing was skipped. The new position
is the highest ``updated_at`` stored, held back by every stored row whose last second may still
hide a change, and never more than one overlap window past now; after ``max_passes`` busy walks it
stays at the mark.

**When one walk is proof enough (page drift).** The inbox is ordered by ``updated_at`` then id; a
page-number walk skips a row only when, between two of its page requests, a row *before* the read
position leaves that place (it changed, so it moved to the end; or it left the inbox): every later
row shifts back one place, and the first row of the next page lands on a page already read. A row
arriving (a new or a changed complaint, a late commit) shifts rows forward: read twice, never
skipped. So a walk proves itself when (:meth:`InboxWatermark.proven`):

- it was a single page: one answer is one consistent view, nothing can move between pages; or
- every one of its pages reported the same paginator ``total``, the walk saw exactly ``total``
  distinct complaints and no unreadable row, and no row was stamped later than one overlap window
  plus a second before the walk began (:func:`is_settled`). A row that changes during the walk is
  stamped at that moment and goes to the end, where this walk reads it: a stamp that recent fails
  the proof. A row leaving with nothing arriving lowers ``total`` on the next page; one leaving
  while another arrives is caught by the arriving row's stamp (a late commit is stamped at most one
  overlap window before it becomes visible, the same bound the window itself relies on); an empty
  or short page (a server fault) leaves fewer distinct rows than ``total``.

Anything else (a walk whose adapter reports no pages, a missing ``total``) walks again, as before:
a later walk that sees nothing new proves that none was skipped.

**When the overlap window is settled.** The overlap exists for rows stamped at or before the mark
that become visible late. Such a row is visible at most one overlap window (plus the second of
precision) after its stamp, so once a walk that *began* that long after the mark's second has
completed with a proof, every row at or before the mark has been seen; the next walk may then start
just after the mark (``mark + 1 s``) instead of re-reading the whole window. The cursor remembers
when its last proven walk began (``walked_at``) for this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from lapor_sync.domain.complaint import InboxItem
from lapor_sync.domain.ports import InboxWalkReport

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

    Use: for each pass of :meth:`passes`, walk the inbox from :attr:`start`, handing the adapter
    :attr:`report` to fill; store each row :meth:`seen` calls new, then tell :meth:`stored` what was
    stored; when the passes are over (and every such row is stored: a failed pull asks nothing),
    :meth:`position` is where the cursor goes and :attr:`walked_at` when the walk that proved
    itself began (``None``: no walk did; the cursor keeps the date it had).

    Args:
        mark: the committed cursor, or where the very first pull starts (aware UTC).
        overlap: how far before ``mark`` a walk starts while the window is not settled.
        max_passes: walks at most; an inbox still changing after them keeps the cursor at ``mark``.
        walked_at: when the cursor's last proven walk began (aware UTC), ``None`` if unknown.
    """

    def __init__(
        self, mark: datetime, *, overlap: timedelta, max_passes: int, walked_at: datetime | None = None
    ) -> None:
        self.mark = mark
        self.overlap = overlap
        self.max_passes = max_passes
        self.report = InboxWalkReport()
        self.walked_at: datetime | None = None
        self._dated = walked_at is not None
        self._settled_window = walked_at is not None and is_settled(mark, walked_at, overlap)
        self._seen: dict[int, datetime] = {}
        self._high = mark
        self._unsettled: list[datetime] = []
        self._new_in_pass = 0
        self._walk_began = mark
        self._in_walk: set[int] = set()
        self._recent_in_walk = False
        self._quiet = False

    @property
    def start(self) -> datetime:
        """Where each walk begins (inclusive): just after a settled mark, else the mark minus the overlap window."""
        return self.mark + SECOND if self._settled_window else self.mark - self.overlap

    def passes(self, now: Callable[[], datetime]) -> Iterator[int]:
        """Yield the number of each walk to make (1, 2, ...), until one proved nothing was skipped, or ``max_passes``.

        A walk proves it when it is :meth:`proven` by itself, or when it saw nothing new to this
        pull (every row it could have skipped was read by an earlier walk).

        Args:
            now: our clock; read as each walk begins.
        """
        for number in range(1, self.max_passes + 1):
            self._begin_walk(now())
            yield number
            if self.proven():
                # Only a walk proven by itself dates the cursor: one that merely saw nothing new
                # may have skipped a row that became visible after the earlier walks.
                self.walked_at = self._walk_began
            if self._new_in_pass == 0 or self.walked_at is not None:
                self._quiet = True
                return

    def _begin_walk(self, now: datetime) -> None:
        self._new_in_pass = 0
        self._walk_began = now
        self._in_walk = set()
        self._recent_in_walk = False
        self.report = InboxWalkReport()

    def proven(self) -> bool:
        """Whether the walk just made cannot have skipped a row (see the module's text).

        A single page; or the same ``total`` on every page, that many distinct complaints read,
        none unreadable, and none stamped within one overlap window (plus a second) of the walk's
        beginning or later.
        """
        report = self.report
        if report.pages == 1:
            return True
        totals = set(report.totals)
        return (
            report.pages > 1
            and len(totals) == 1
            and None not in totals
            and report.unreadable == 0
            and len(self._in_walk) == totals.pop()
            and not self._recent_in_walk
        )

    def seen(self, item: InboxItem) -> bool:
        """Record an inbox row; return whether it is new to this pull and must be stored.

        A row is new when this pull has not seen its complaint yet, or only with an older
        ``updated_at``; the same complaint with the same ``updated_at`` again (the overlap, the
        next walk) is not.
        """
        self._in_walk.add(item.complaint_id)
        if not is_settled(item.updated_at, self._walk_began, self.overlap):
            self._recent_in_walk = True
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

    def changes_cursor(self, position: datetime) -> bool:
        """Whether the cursor must be written: it moves, its window becomes settled, or it was never dated.

        It moves when ``position`` passes the mark; its window becomes settled by a proven walk
        that began an overlap window and a second after the mark. An idle pull over a settled
        window writes nothing (not even the date of its walk, which would settle nothing new). One
        with no dated cursor (the first pull, a cursor stored before ``walked_at`` existed) writes,
        so that the cursor row exists from the first pull on.
        """
        return position > self.mark or not self._dated or (self.walked_at is not None and not self._settled_window)

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
