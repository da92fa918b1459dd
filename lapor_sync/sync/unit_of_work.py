"""The pull's unit of work: one transaction, and the run counters that count once it commits."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session

from lapor_sync.storage.models import COUNTERS
from lapor_sync.sync.journal import RunJournal


class UnitOfWork:
    """One transaction of the pull: a session, and the run counters that count once it commits.

    Steps add their changes to :attr:`session` and their counts with :meth:`count`; only
    :meth:`commit` makes either real, so a rolled-back unit counts nothing (``fetched``, a read of
    LAPOR! and not a change, is counted on the journal as it happens). The pull commits one
    unit per page of the inbox; the steps take the unit and never commit. When the unique binding
    index refuses a duplicate (another worker stored a complaint of the page first), the pull rolls
    the unit back and stores the page again one complaint per unit (``Puller._store_in``).

    Args:
        session: the unit's session; only :meth:`commit` commits it.
        journal: the run whose counters the unit adds to.
    """

    def __init__(self, session: Session, journal: RunJournal) -> None:
        self.session = session
        self._journal = journal
        self._counted: Counter[str] = Counter()

    def count(self, counter: str) -> None:
        """Add one to the run counter named ``counter`` (``created``, ``unchanged``, ...) once the unit commits.

        Raises:
            ValueError: ``counter`` is not a run counter (:data:`~lapor_sync.storage.models.COUNTERS`);
                said here, by the step that named it, not later by the commit.
        """
        if counter not in COUNTERS:
            raise ValueError(f"{counter!r} is not a run counter (one of {', '.join(COUNTERS)})")
        self._counted[counter] += 1

    def commit(self) -> None:
        """Commit the session, then add what was counted to the run's counters."""
        self.session.commit()
        counts = self._journal.counts
        for counter, n in self._counted.items():
            setattr(counts, counter, getattr(counts, counter) + n)
        self._counted.clear()

    def rollback(self) -> None:
        """Roll the session back and forget what was counted; the session may be used again."""
        self.session.rollback()
        self._counted.clear()
