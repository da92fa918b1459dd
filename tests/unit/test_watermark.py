"""The inbox watermark alone (CONTRACT §6): the walk's start, dedupe, passes, and where the cursor may go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from lapor_sync.domain.complaint import InboxItem
from lapor_sync.sync.watermark import InboxWatermark, is_settled

MARK = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)  # 09:00 WIB
OVERLAP = timedelta(minutes=5)
NOW = MARK + timedelta(hours=1)
SECOND = timedelta(seconds=1)


def row(complaint_id: int, updated_at: datetime) -> InboxItem:
    """An inbox row of ``complaint_id`` last changed at ``updated_at``."""
    return InboxItem(complaint_id=complaint_id, updated_at=updated_at)


def watermark(max_passes: int = 5) -> InboxWatermark:
    """A watermark from :data:`MARK` with a five-minute overlap."""
    return InboxWatermark(MARK, overlap=OVERLAP, max_passes=max_passes)


def walk(mark: InboxWatermark, *passes: Sequence[InboxItem]) -> list[list[int]]:
    """Make the watermark's walks, the n-th reading ``passes[n]`` (nothing once they run out).

    Returns the complaint ids each walk found new, one list per walk made.
    """
    new: list[list[int]] = []
    for number in mark.passes(lambda: NOW):
        rows = passes[number - 1] if number <= len(passes) else ()
        new.append([item.complaint_id for item in rows if mark.seen(item)])
    return new


def test_a_walk_starts_one_overlap_window_before_the_mark() -> None:
    assert watermark().start == MARK - OVERLAP


def test_the_same_complaint_with_the_same_updated_at_is_new_only_once() -> None:
    mark = watermark()

    assert mark.seen(row(1, MARK)) is True
    assert mark.seen(row(1, MARK)) is False
    assert mark.seen(row(1, MARK - SECOND)) is False  # an older read of it, from a row that moved
    assert mark.seen(row(2, MARK)) is True  # another complaint in the same second


def test_a_newer_updated_at_of_a_complaint_seen_before_is_new_again() -> None:
    mark = watermark()
    mark.seen(row(1, MARK))

    assert mark.seen(row(1, MARK + SECOND)) is True
    assert mark.seen_complaints == {1}


def test_a_walk_that_sees_nothing_new_ends_the_pull_and_the_position_is_the_highest_row() -> None:
    mark = watermark()
    rows = [row(1, MARK + SECOND), row(2, MARK + 2 * SECOND)]

    assert walk(mark, rows, rows) == [[1, 2], []]
    assert mark.busy is False
    assert mark.position(NOW) == MARK + 2 * SECOND


def test_a_row_that_moved_during_a_walk_is_found_by_the_next_one() -> None:
    mark = watermark()
    moved = row(2, MARK + 3 * SECOND)  # skipped by the first walk, which saw its old place taken

    assert walk(mark, [row(1, MARK + SECOND)], [row(1, MARK + SECOND), moved], [moved]) == [[1], [2], []]
    assert mark.position(NOW) == MARK + 3 * SECOND


def test_an_empty_inbox_is_one_quiet_walk_and_the_position_stays_at_the_mark() -> None:
    mark = watermark()

    assert walk(mark) == [[]]
    assert (mark.busy, mark.position(NOW)) == (False, MARK)


def test_an_inbox_still_busy_after_max_passes_keeps_the_mark() -> None:
    mark = watermark(max_passes=3)

    new = walk(mark, [row(1, MARK + SECOND)], [row(1, MARK + 2 * SECOND)], [row(1, MARK + 3 * SECOND)])

    assert new == [[1], [1], [1]]  # three walks, each with something new: no fourth
    assert mark.busy is True
    assert mark.position(NOW) == MARK


def test_a_stored_row_whose_last_second_may_still_hide_a_change_holds_the_position_back() -> None:
    mark = watermark()
    walk(mark, [row(1, MARK + SECOND), row(2, MARK + 10 * SECOND)])

    mark.stored(MARK + SECOND, checked_at=MARK + 2 * SECOND)  # read a second later: not settled
    mark.stored(MARK + 10 * SECOND, checked_at=NOW)  # read long after: settled

    assert mark.position(NOW) == MARK + SECOND


def test_settled_rows_do_not_hold_the_position_back() -> None:
    mark = watermark()
    walk(mark, [row(1, MARK + SECOND)])

    mark.stored(MARK + SECOND, checked_at=MARK + SECOND + OVERLAP + SECOND)

    assert mark.position(NOW) == MARK + SECOND


def test_an_unsettled_row_holds_a_busy_pull_back_too() -> None:
    # The cursor never moves backwards, but a first pull (no cursor row yet) writes what this says.
    mark = watermark(max_passes=1)
    walk(mark, [row(1, MARK - 2 * SECOND)])  # within the overlap window, before the mark

    mark.stored(MARK - 2 * SECOND, checked_at=MARK)

    assert mark.busy is True
    assert mark.position(NOW) == MARK - 2 * SECOND


def test_a_row_stamped_far_ahead_of_our_clock_carries_the_position_at_most_one_overlap_past_now() -> None:
    mark = watermark()
    walk(mark, [row(1, NOW + timedelta(days=2))])

    assert mark.position(NOW) == NOW + OVERLAP


@pytest.mark.parametrize(
    ("read_after", "settled"),
    [
        (OVERLAP + SECOND, True),
        (OVERLAP + SECOND - timedelta(microseconds=1), False),
        (SECOND, False),
        (timedelta(0), False),
    ],
)
def test_a_read_settles_its_second_one_second_plus_the_overlap_after_it(read_after: timedelta, settled: bool) -> None:
    assert is_settled(MARK, MARK + read_after, OVERLAP) is settled


# --- one walk as proof against page drift, and the settled overlap window ---------------------

OLD = MARK - OVERLAP  # rows stamped long before NOW: no change can be under way in them
Page = Sequence[InboxItem]


def walk_pages(
    mark: InboxWatermark, walks: Sequence[Sequence[Page]], *, totals: Sequence[int | None] | None = None
) -> int:
    """Make the watermark's walks at :data:`NOW`, filling its report as an adapter does; return how many were made.

    The n-th walk reads ``walks[n]`` page by page (the last one again once they run out); each
    page reports ``totals[page]``, by default the number of distinct complaints in the walk.
    """
    made = 0
    for number in mark.passes(lambda: NOW):
        pages = walks[min(number, len(walks)) - 1]
        default = len({item.complaint_id for page in pages for item in page})
        for index, page in enumerate(pages):
            mark.report.pages += 1
            mark.report.totals.append(default if totals is None else totals[index])
            for item in page:
                mark.seen(item)
        made = number
    return made


TWO_PAGES = [[row(1, OLD), row(2, OLD + SECOND)], [row(3, OLD + 2 * SECOND)]]


def test_a_single_page_walk_is_proof_enough_even_with_recent_rows() -> None:
    mark = watermark()

    assert walk_pages(mark, [[[row(1, NOW), row(2, NOW)]]]) == 1
    assert (mark.busy, mark.walked_at, mark.position(NOW)) == (False, NOW, NOW)


def test_several_pages_with_one_total_all_rows_read_and_none_recent_are_proof_enough() -> None:
    mark = watermark()

    assert walk_pages(mark, [TWO_PAGES]) == 1
    assert (mark.busy, mark.walked_at) == (False, NOW)


def test_a_row_stamped_within_the_overlap_of_the_walk_start_asks_for_another_walk() -> None:
    # A row that changed during the walk moved to the end: another may have shifted onto a page read.
    mark = watermark()
    recent = [TWO_PAGES[0], [row(3, NOW - OVERLAP)]]

    assert walk_pages(mark, [recent]) == 2  # the second walk sees nothing new
    assert mark.busy is False
    assert mark.walked_at is None  # quiet, but not proven by itself: the cursor keeps its date


def test_a_total_that_changed_between_pages_asks_for_another_walk() -> None:
    # A row before the read position left the inbox: every later row shifted back one place.
    mark = watermark()

    assert walk_pages(mark, [TWO_PAGES], totals=[4, 3]) == 2
    assert mark.walked_at is None


def test_fewer_rows_than_the_total_ask_for_another_walk() -> None:
    # An empty or short page (a server fault) hides rows: the count tells.
    mark = watermark()

    assert walk_pages(mark, [[TWO_PAGES[0], []]], totals=[3, 3]) == 2


def test_a_page_without_a_total_or_an_unreadable_row_asks_for_another_walk() -> None:
    without_total, unreadable = watermark(), watermark()
    walk_pages(without_total, [TWO_PAGES], totals=[3, None])
    made = 0
    for number in unreadable.passes(lambda: NOW):
        # As the adapter reports it: two pages of one row in all, besides a row it could not read.
        unreadable.report.pages, unreadable.report.unreadable, unreadable.report.totals = 2, 1, [1, 1]
        unreadable.seen(row(1, OLD))
        made = number

    assert without_total.walked_at is None
    assert (made, unreadable.walked_at) == (2, None)


def test_a_walk_without_a_report_proves_nothing_by_itself() -> None:
    # A platform that reports no pages: the walk is repeated until one sees nothing new, as before.
    mark = watermark()
    rows = [row(1, OLD)]

    assert walk(mark, rows, rows) == [[1], []]
    assert mark.walked_at is None


@pytest.mark.parametrize(
    ("walked_at", "start"),
    [
        (None, MARK - OVERLAP),
        (MARK + OVERLAP, MARK - OVERLAP),  # began before the window's late commits were all visible
        (MARK + OVERLAP + SECOND, MARK + SECOND),  # the window is settled: the walk starts after the mark
    ],
)
def test_a_walk_starts_after_the_mark_once_a_proven_walk_began_an_overlap_and_a_second_after_it(
    walked_at: datetime | None, start: datetime
) -> None:
    assert InboxWatermark(MARK, overlap=OVERLAP, max_passes=5, walked_at=walked_at).start == start


def test_an_idle_pull_over_a_settled_window_leaves_the_cursor_unwritten() -> None:
    settled = InboxWatermark(MARK, overlap=OVERLAP, max_passes=5, walked_at=MARK + OVERLAP + SECOND)
    unsettled = InboxWatermark(MARK, overlap=OVERLAP, max_passes=5, walked_at=MARK)
    walk_pages(settled, [[[]]])
    walk_pages(unsettled, [[[]]])

    assert settled.changes_cursor(settled.position(NOW)) is False
    assert unsettled.changes_cursor(unsettled.position(NOW)) is True  # its proven walk now settles the window
    assert settled.changes_cursor(MARK + SECOND) is True  # the mark moves
    busy_first_pull = watermark(max_passes=1)
    walk_pages(busy_first_pull, [TWO_PAGES], totals=[3, None])
    assert busy_first_pull.changes_cursor(MARK) is True  # never dated: the cursor row is written all the same
