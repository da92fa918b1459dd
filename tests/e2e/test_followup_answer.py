"""The answer to a follow-up POST is checked against what was posted: another follow-up in it means read back at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.complaint import AuthorType, ThreadEntry
from lapor_sync.domain.errors import TransientError
from lapor_sync.simulator.catalog import category_id
from tests.support.e2e import DINSOS, Harness, PlatformWrapper

pytestmark = pytest.mark.e2e
SOSIAL = category_id("Sosial dan Kesejahteraan")


class AnswersWith(PlatformWrapper):
    """Posts for real, then answers with what ``answer(posted)`` makes of the stored follow-up."""

    def __init__(self, inner: Any, answer: Any) -> None:
        super().__init__(inner)
        self.answer = answer
        self.reads = 0

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Post through ``inner``; return the altered answer."""
        return self.answer(self.inner.post_followup(complaint_id, **kwargs))

    def list_followups(self, complaint_id: int) -> Any:
        """Read back through ``inner``, counted."""
        self.reads += 1
        return self.inner.list_followups(complaint_id)


def _other_complaints_followup(h: Harness) -> ThreadEntry:
    """A follow-up of ours on another complaint, as LAPOR! would return it."""
    other = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    assert h.sync().created == 1
    h.act(other.complaint_id, AgencyAction.FOLLOWUP, "Tindak lanjut pada laporan lain.")
    assert h.sync(pull=False).pushed == 1
    (stored,) = h.world.complaint(other.complaint_id).followups
    return ThreadEntry(
        national_id=stored.id,
        author_type=AuthorType.INSTITUTION,
        institution_id=stored.institution_from_id,
        institution_name=None,
        content=stored.content,
        rating=0,
        is_secret=False,
        created_at=stored.created_at,
    )


@pytest.mark.parametrize(
    "answer",
    ["another complaint's follow-up", "an unknown id without our token", "our token under another complaint and id"],
)
def test_a_followup_answered_with_another_one_is_read_back_and_the_thread_holds_it_once(
    h: Harness, answer: str
) -> None:
    foreign = _other_complaints_followup(h)
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    answers = {
        "another complaint's follow-up": lambda posted: foreign,
        "an unknown id without our token": lambda posted: replace(
            posted, national_id=posted.national_id + 1000, content="Terima kasih."
        ),
        "our token under another complaint and id": lambda posted: replace(
            posted, national_id=posted.national_id + 1000, complaint_id=complaint_id + 1
        ),
    }
    platform = AnswersWith(h.platform, answers[answer])

    run = h.sync(pull=False, platform=platform)

    h.advance(timedelta(minutes=15))
    assert h.sync().outcome == "ok"  # the pull takes in the thread as LAPOR! shows it

    (stored,) = h.world.complaint(complaint_id).followups  # posted once
    assert [(e.origin, e.national_id) for e in h.thread(complaint_id)] == [("agency", stored.id)]
    assert (run.pushed, platform.reads) == (1, 1)  # read back at once, in the same delivery
    assert h.outbox(item.id).state == "delivered"
    assert "found by read-back" in h.events("outbox.delivered")[-1].message


class ReadBackFailsOnce(AnswersWith):
    """Answers with another follow-up; its first read-back fails with a transient error (a GET that surely did
    not reach LAPOR!: 503 with Retry-After)."""

    def list_followups(self, complaint_id: int) -> Any:
        """Fail the first read-back, then read back through ``inner``."""
        self.reads += 1
        if self.reads == 1:
            raise TransientError("Service Unavailable", status=503, retry_after=1)
        return self.inner.list_followups(complaint_id)


def test_a_followup_answered_with_another_one_whose_read_back_fails_is_read_back_before_any_new_post(
    h: Harness,
) -> None:
    foreign = _other_complaints_followup(h)
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    platform = ReadBackFailsOnce(h.platform, lambda posted: foreign)

    first = h.sync(pull=False, platform=platform)

    assert (first.pushed, first.failed) == (0, 1)
    row = h.outbox(item.id)
    assert (row.state, row.needs_readback) == ("pending", True)  # ours may be stored: read back first
    h.advance(row.next_attempt_at - h.clock.now())
    assert h.sync(pull=False, platform=platform).pushed == 1
    assert len(h.world.complaint(complaint_id).followups) == 1  # found by read-back, never posted again
    assert platform.reads == 2
