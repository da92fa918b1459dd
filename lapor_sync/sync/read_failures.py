"""Complaints whose reads keep failing: which failures count against one complaint, and how many runs in a row.

Without this, a complaint whose detail keeps answering ``{"results": null}`` fails every pull run,
and no complaint behind it in the inbox is ever stored: the cursor may not pass a complaint that
was not stored. With it, once reading one complaint has failed ``set_aside_after_failures`` pull
runs in a row (setting, default 3), the pull sets it aside with its reason, as it does a malformed
record, and goes on; the set-aside record is the one explicit way for the cursor to pass what was
not stored (:mod:`lapor_sync.sync.watermark` is unchanged). The runs before the bound fail as any
failed read did, after storing what came before the complaint. ``lapor-sync resync --set-aside``
and the rechecks read it again; a read that succeeds stores it and deletes its count.

**What counts** (:func:`about_one_complaint`): only an answer about that one complaint, after the
client's retries gave up: LAPOR! answered its detail or follow-ups with a 2xx that is not the
protocol (``{"results": null}``, HTML, an empty body: CONTRACT §2) or with a 500, 502, 504, or a 503
without ``Retry-After``. Never a failure of the platform as a whole: no answer at all (connect
errors, timeouts), 401 and 403 (:class:`RunStoppingError`), 408 and 429 (the quota), a 503 with
``Retry-After`` (maintenance), or any refusal of the SPLP gateway (a WSO2 fault: CONTRACT §7 G1);
those still stop or fail the run and set nothing aside. And even an answer of the first kind counts
only when the same run read another complaint in full (the engine's ``fetched``): a detail endpoint
that fails for every complaint is the platform's fault, not theirs. A complaint is counted once per
run, however often the run tried it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from lapor_sync.domain.errors import AmbiguousWriteError, Layer, NationalPlatformError, TransientError
from lapor_sync.domain.personal_data import mask_personal_data
from lapor_sync.storage.models import ReadFailure

_TABLE = ReadFailure.__table__
_SERVER_FAULTS = frozenset({500, 502, 504})
"""5xx that a server answers for one URL when handling that request failed (a 503 only without ``Retry-After``)."""


def about_one_complaint(error: NationalPlatformError) -> bool:
    """Whether a failed read of one complaint is about that complaint, not the platform (see the module's text).

    Args:
        error: what the read raised once the client's retries gave up.

    Returns:
        ``True`` for a retryable answer of LAPOR! itself (not the SPLP gateway, CONTRACT §7 G1): a
        2xx that is not the protocol (CONTRACT §2), a 500, 502 or 504, a 503 without ``Retry-After``.
    """
    if not isinstance(error, TransientError) or isinstance(error, AmbiguousWriteError):
        return False
    if error.layer is Layer.GATEWAY or error.fault_code is not None or error.status is None:
        return False  # the gateway refused, or nothing answered: the platform, not the complaint
    status = error.status
    return 200 <= status < 300 or status in _SERVER_FAULTS or (status == 503 and error.retry_after is None)


@dataclass(frozen=True)
class ReadFailed:
    """A read of one complaint that failed for reasons of its own (:func:`about_one_complaint`).

    Attributes:
        complaint_id: the national complaint id.
        error: the failure, raised again when the complaint is not set aside (its text is free of secrets).
    """

    complaint_id: int
    error: TransientError

    @property
    def reason(self) -> str:
        """The failure in words, without personal data (a server's message may quote some)."""
        return mask_personal_data(str(self.error))


@dataclass(frozen=True)
class Verdict:
    """What failed reads of one page (or one recheck) come to (:meth:`ReadFailures.settle`).

    Attributes:
        set_aside: the failures whose complaints are set aside: they reached the limit, now or before.
        failing: the others, each with its runs in a row; the first is the run's error.
        counted: whether this run's failures were counted (it read another complaint in full).
    """

    set_aside: tuple[ReadFailed, ...]
    failing: tuple[tuple[ReadFailed, int], ...]
    counted: bool

    @property
    def blocking(self) -> ReadFailed | None:
        """The failure the run fails with, or ``None`` when every complaint is set aside."""
        return self.failing[0][0] if self.failing else None


@dataclass(frozen=True)
class _Count:
    failures: int
    last_run_id: int | None


class ReadFailures:
    """The counts of one institution's complaints whose reads failed, for one run (or one resync).

    Loaded once (:meth:`load`, one query); pages whose complaints all read well then cost no
    statement here: only a complaint with a count is deleted from the table once read.

    Args:
        institution_id: the institution.
        limit: runs in a row before a complaint is set aside (setting ``set_aside_after_failures``).
        counts: the stored counts, by complaint id.
    """

    def __init__(self, institution_id: int, limit: int, counts: dict[int, _Count]) -> None:
        self.institution_id = institution_id
        self.limit = limit
        self._counts = counts

    @classmethod
    def load(cls, connection: Connection, institution_id: int, limit: int) -> ReadFailures:
        """Read the institution's counts (usually none) in one query."""
        query = select(_TABLE.c.complaint_id, _TABLE.c.failures, _TABLE.c.last_run_id).where(
            _TABLE.c.institution_id == institution_id
        )
        counts = {row.complaint_id: _Count(row.failures, row.last_run_id) for row in connection.execute(query)}
        return cls(institution_id, limit, counts)

    def runs_after(self, complaint_id: int, run_id: int | None) -> int:
        """The runs in a row a failure of ``complaint_id`` in run ``run_id`` makes (a run counts once)."""
        known = self._counts.get(complaint_id, _Count(0, None))
        return known.failures if known.last_run_id == run_id and known.failures else known.failures + 1

    def sets_aside(self, complaint_id: int, run_id: int | None) -> bool:
        """Whether a failure of ``complaint_id`` in this run reaches the limit: the complaint is then set aside."""
        return self.runs_after(complaint_id, run_id) >= self.limit

    def aside(self, complaint_id: int) -> bool:
        """Whether ``complaint_id`` reached the limit before: it is set aside, and a failure of it keeps it so."""
        known = self._counts.get(complaint_id)
        return known is not None and known.failures >= self.limit

    def holds(self, failed: Sequence[ReadFailed], *, evidence: bool, run_id: int | None) -> bool:
        """Whether the failed reads so far decide already that the first of them holds the rest back.

        So they do with ``evidence`` (the run read another complaint in full) when one of them stays
        below the limit; without it, when two complaints not set aside before failed (the platform's
        failure, likely). Otherwise the next read is worth awaiting: it may show the platform answers.
        """
        if not evidence:
            return sum(not self.aside(read.complaint_id) for read in failed) > 1
        return not all(self.sets_aside(read.complaint_id, run_id) for read in failed)

    def settle(
        self, connection: Connection, failed: Sequence[ReadFailed], *, evidence: bool, run_id: int | None, now: datetime
    ) -> Verdict:
        """Count ``failed`` when there is ``evidence`` (:meth:`count`), and tell which are set aside.

        Without evidence nothing is counted, and only a complaint set aside before stays so.
        """
        counted = self.count(connection, failed, run_id=run_id, now=now) if evidence else {}
        aside, failing = [], []
        for read in failed:
            runs = counted.get(read.complaint_id) or self._counts.get(read.complaint_id, _Count(0, None)).failures
            if runs >= self.limit:
                aside.append(read)
            else:
                failing.append((read, runs))
        return Verdict(tuple(aside), tuple(failing), evidence)

    def count(
        self, connection: Connection, failed: Sequence[ReadFailed], *, run_id: int | None, now: datetime
    ) -> dict[int, int]:
        """Count a failed run for each of ``failed`` (once per run) and store it; return the runs in a row of each.

        Args:
            connection: the unit of work's (the count is committed by it, apart from the page).
            failed: the failed reads, distinct complaints.
            run_id: the run they failed in.
            now: when (aware UTC).
        """
        counted = {}
        for read in failed:
            runs = self.runs_after(read.complaint_id, run_id)
            values = {"failures": runs, "last_run_id": run_id, "reason": read.reason, "last_failed_at": now}
            key = (_TABLE.c.institution_id == self.institution_id) & (_TABLE.c.complaint_id == read.complaint_id)
            if runs == 1 or connection.execute(update(_TABLE).where(key).values(values)).rowcount == 0:
                # A first failure; or its row went meanwhile (a read of it succeeded earlier in this run).
                connection.execute(delete(_TABLE).where(key))
                row = {"institution_id": self.institution_id, "complaint_id": read.complaint_id, **values}
                connection.execute(insert(_TABLE).values({**row, "failures": 1, "first_failed_at": now}))
                runs = 1
            self._counts[read.complaint_id] = _Count(runs, run_id)
            counted[read.complaint_id] = runs
        return counted

    def succeeded(self, connection: Connection, complaint_ids: Collection[int]) -> None:
        """Delete the counts of complaints just read in full: a statement only when one of them had a count.

        The count stays known here as none: a rolled-back page that stores its rows again deletes it again.
        """
        ids = [complaint_id for complaint_id in complaint_ids if complaint_id in self._counts]
        if not ids:
            return
        connection.execute(
            delete(_TABLE).where(_TABLE.c.institution_id == self.institution_id, _TABLE.c.complaint_id.in_(ids))
        )
        for complaint_id in ids:
            self._counts[complaint_id] = _Count(0, None)

    def set_aside_reason(self, read: ReadFailed) -> str:
        """The reason a complaint is set aside with: the same in every run while the failure is (a record is not repeated)."""
        runs = f"{self.limit} pull run{'' if self.limit == 1 else 's'} in a row"
        return f"reading it failed {runs} ({read.reason}); the pull goes on without it"
