"""What a finished run comes to for whoever started it: ``ok``, ``partly_failed`` or ``failed`` (the exit code)."""

from __future__ import annotations

import pytest

from lapor_sync.domain.runs import RunOutcome, Verdict, verdict, worst


@pytest.mark.parametrize(
    ("outcome", "pushed", "failed", "dead", "expected"),
    [
        (RunOutcome.OK, 0, 0, 0, Verdict.OK),  # nothing due: nothing tried, nothing failed
        (RunOutcome.OK, 3, 0, 0, Verdict.OK),
        (RunOutcome.OK, 0, 2, 0, Verdict.FAILED),  # the national side down: every attempt failed
        (RunOutcome.OK, 0, 0, 1, Verdict.FAILED),  # the one row tried became a dead letter
        (RunOutcome.OK, 1, 1, 0, Verdict.PARTLY_FAILED),
        (RunOutcome.OK, 2, 0, 1, Verdict.PARTLY_FAILED),
        (RunOutcome.FAILED, 5, 0, 0, Verdict.FAILED),  # delivered rows do not make a failed run good
        (RunOutcome.INTERRUPTED, 0, 0, 0, Verdict.FAILED),
    ],
)
def test_a_run_is_ok_only_when_nothing_it_tried_failed(
    outcome: RunOutcome, pushed: int, failed: int, dead: int, expected: Verdict
) -> None:
    assert verdict(outcome, pushed=pushed, failed=failed, dead_lettered=dead) is expected


def test_several_runs_come_to_the_worst_of_them() -> None:
    assert worst([]) is Verdict.OK
    assert worst([Verdict.OK, Verdict.PARTLY_FAILED, Verdict.OK]) is Verdict.PARTLY_FAILED
    assert worst([Verdict.PARTLY_FAILED, Verdict.FAILED, Verdict.OK]) is Verdict.FAILED
