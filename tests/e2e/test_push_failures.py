"""A failure in one row's delivery, whatever it is, is a failed attempt of that row: the rest of the outbox goes on,
and what leaves the push (errors, events, log lines, an escaping exception and its chain) never quotes a withheld text."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.complaint import ThreadEntry
from lapor_sync.domain.errors import TransientError
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.models import OutboxItem, SyncRun
from tests.support.e2e import DINSOS, Harness, PlatformWrapper

pytestmark = pytest.mark.e2e
SOSIAL = category_id("Sosial dan Kesejahteraan")
SECRET_FOLLOWUP = "Petugas menemui pelapor di rumah kontrakan belakang pasar Kahayan pada malam hari."
ENDLESS = 99999999999999999999.0  # a Retry-After no date can hold


class FailsFor(PlatformWrapper):
    """Posts follow-ups for real, except on ``complaint_id``, where ``fail(content)`` raises instead."""

    def __init__(self, inner: Any, complaint_id: int, fail: Callable[[str], None]) -> None:
        super().__init__(inner)
        self.complaint_id, self.fail = complaint_id, fail

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Fail on the chosen complaint, post on the others."""
        if complaint_id == self.complaint_id:
            self.fail(kwargs["content"])
        return self.inner.post_followup(complaint_id, **kwargs)


def _queue(h: Harness, count: int, **complaint: Any) -> list[OutboxItem]:
    """Pull ``count`` new complaints and queue a follow-up on each, in order."""
    made = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, **complaint) for _ in range(count)]
    assert h.sync(push=False).created == count
    return [h.act(c.complaint_id, AgencyAction.FOLLOWUP, SECRET_FOLLOWUP) for c in made]


def _unexpected(_content: str) -> None:
    raise ValueError("the answer had an unexpected shape")


def _endless_retry_after(_content: str) -> None:
    raise TransientError("Too Many Requests", status=429, retry_after=ENDLESS)


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("a __str__ that fails")


def _unprintable(_content: str) -> None:
    raise _Unprintable


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        (_unexpected, "unexpected ValueError"),
        (_unprintable, "unexpected _Unprintable"),
        (_endless_retry_after, "HTTP 429: Too Many Requests"),
    ],
    ids=["bug", "bug-with-unprintable-message", "endless-retry-after"],
)
def test_a_failure_in_one_rows_delivery_is_a_failed_attempt_and_the_rest_are_delivered(
    h: Harness, fail: Callable[[str], None], expected: str
) -> None:
    first, *others = _queue(h, 3)

    run = h.sync(pull=False, platform=FailsFor(h.platform, first.complaint_id, fail))

    assert (run.outcome, run.pushed, run.failed) == ("ok", 2, 1)
    assert [h.outbox(item.id).state for item in others] == ["delivered", "delivered"]
    row = h.outbox(first.id)
    assert (row.state, row.attempts, row.needs_readback) == ("pending", 1, fail is not _endless_retry_after)
    assert expected in (row.last_error or "")
    assert h.clock.now() < row.next_attempt_at <= h.clock.now() + timedelta(hours=1)
    [retry] = h.events("outbox.retry")
    assert retry.complaint_id == first.complaint_id and expected in retry.message
    h.advance(row.next_attempt_at - h.clock.now())
    assert h.sync(pull=False).pushed == 1  # it is not stuck: the next push reads back (if need be) and sends it


def _quoted_with_endless_retry_after(content: str) -> None:
    raise TransientError(f"Too Many Requests for: {content}", status=429, retry_after=ENDLESS)


def _interrupted_while_quoted(content: str) -> None:
    try:
        raise TransientError(f"Too Many Requests for: {content}", status=429)
    except TransientError:
        raise KeyboardInterrupt from None  # Ctrl-C: its context still holds the quote


@pytest.mark.parametrize(
    ("fail", "escapes"),
    [(_quoted_with_endless_retry_after, None), (_interrupted_while_quoted, KeyboardInterrupt)],
    ids=["crash", "interrupt"],
)
def test_a_confidential_followup_quoted_back_never_leaves_the_push(
    h: Harness, log_lines: Callable[[], str], fail: Callable[[str], None], escapes: type[BaseException] | None
) -> None:
    [item] = _queue(h, 1, is_secret=True)
    escaped: list[str] = []

    try:
        h.sync(pull=False, platform=FailsFor(h.platform, item.complaint_id, fail))
    except BaseException as exc:  # noqa: BLE001 - what leaves the push is what is searched
        assert type(exc) is escapes, traceback.format_exception(exc)
        escaped += traceback.format_exception(exc)
        link: BaseException | None = exc
        while link is not None:  # the chain itself, suppressed contexts included
            escaped.append(repr(link.args))
            link = link.__cause__ or link.__context__
    else:
        assert escapes is None

    with h.app.db.session() as session:
        written = [run.error or "" for run in session.exec(select(SyncRun))]
    written += [e.message for e in h.all_events()] + [h.outbox(item.id).last_error or ""]
    for text in [*escaped, *written, log_lines()]:
        assert "rumah kontrakan belakang" not in text
    assert "[content withheld]" in "".join(escaped) + (h.outbox(item.id).last_error or "")  # it was quoted
    assert h.outbox(item.id).state == "pending"


def test_review_an_unreadable_read_back_sets_the_row_back_and_the_push_goes_on(h: Harness) -> None:
    unreadable = h.new_case()
    h.advance(timedelta(minutes=1))
    other = h.new_case()
    h.act(unreadable, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    assert h.sync(pull=False).pushed == 1
    done = h.act(unreadable, AgencyAction.COMPLETE, "Selesai ditangani.")
    h.faults.fail("POST", rf"/complaints/process/{unreadable}/status$", status=None)  # applied, answer lost
    assert h.sync(pull=False).failed == 1
    h.faults.clear()
    h.advance(timedelta(hours=2))
    queued = h.act(other, AgencyAction.FOLLOWUP, "Kami koordinasikan dengan kelurahan.")

    def broken(complaint: dict[str, Any]) -> None:
        if complaint["complaint_id"] == unreadable:
            complaint["is_secret"] = "maybe"

    h.faults.rewrite = broken
    run = h.sync(pull=False)

    assert run.outcome == "ok", run.error
    assert h.outbox(queued.id).state == "delivered"  # one unreadable complaint blocks no other case
    row = h.outbox(done.id)
    assert row.state == "pending" and row.needs_readback and "is_secret" in (row.last_error or "")
