"""Pull: walk the national inbox, fetch what changed, and store it in the city's records.

The walk follows CONTRACT §6 (:class:`~lapor_sync.sync.watermark.InboxWatermark`): start from the
committed mark minus an overlap window (inclusive; just after the mark once that window is
settled), dedupe by complaint id and ``updated_at``, repeat the walk until one proves that nothing
was skipped (page drift), and advance the mark only after the whole pull succeeded. Open cases whose
complaint has not been seen for a while are read by detail, so that a complaint forwarded away,
archived or auto-closed on the national side is noticed even though it left the inbox (CONTRACT §5);
most urgent first and within a request budget (:mod:`lapor_sync.sync.recheck`).

The inbox is taken a page at a time: the page's bindings are read in one query, the rows that may
have changed are read by detail a few at a time (:class:`~lapor_sync.sync.fetch_pool.FetchPool`),
and the page is stored in one unit of work (:class:`UnitOfWork`) with statements executed many at
once (:meth:`CityRecords.receive_many`, :mod:`lapor_sync.sync.page_store`): its cases, bindings,
sync events and set-aside records commit together or not at all, and the counters of what was
stored count only once they did. ``fetched`` counts a read of LAPOR! as it happens: the read took
place whether or not its store commits.

A read that fails for reasons of its complaint alone (``{"results": null}``, a 5xx for its URL)
fails the run as any failed read, after the rows before it are stored, until that complaint has
failed ``set_aside_after_failures`` runs in a row; then it is set aside and the run goes on
(:mod:`lapor_sync.sync.read_failures` says what counts, and why the cursor stays right).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from lapor_sync.domain.complaint import Complaint, ComplaintSnapshot, InboxItem, MalformedRecord
from lapor_sync.domain.errors import ConfigurationError, ItemRejectedError, MalformedRecordError, TransientError
from lapor_sync.domain.fingerprint import snapshot_fingerprint
from lapor_sync.domain.personal_data import mask_personal_data
from lapor_sync.domain.ports import CityRecords, NationalPlatform, Receipt, Received, ReceiveOutcome
from lapor_sync.domain.routing import AgencyOverride, CityMapping, Routing
from lapor_sync.domain.sla import SlaPolicy
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import PURGED_TEXT, Case, SetAsideRecord
from lapor_sync.sync.cursor import InboxCursor, advance_cursor, read_inbox_cursor
from lapor_sync.sync.fetch_pool import FetchPool
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.page_store import (
    BindingState,
    PageWrites,
    load_bindings,
    load_overrides,
    unresolved_set_aside,
)
from lapor_sync.sync.read_failures import ReadFailed, ReadFailures, about_one_complaint
from lapor_sync.sync.receive import record_receipt
from lapor_sync.sync.recheck import (
    RecheckBudget,
    RecheckCandidate,
    RecheckLimits,
    budget_name,
    due_rechecks,
    record_spent,
    spent_on,
    wib_day,
)
from lapor_sync.sync.unit_of_work import UnitOfWork
from lapor_sync.sync.watermark import InboxWatermark, is_settled


@dataclass(frozen=True)
class PullOptions:
    """Tuning of one pull.

    Attributes:
        overlap: how far before the committed mark each walk starts (clock skew, second precision).
        initial_since: where the very first walk starts (aware).
        max_passes: walks per pull; an inbox still changing after them keeps the cursor where it was.
        recheck_after: how long an open case may go unseen before its detail is read again.
        page_size: inbox rows stored per unit of work: the inbox's page size (CONTRACT §5: at most 100).
        fetch_concurrency: complaints read by detail at once (see :mod:`lapor_sync.sync.fetch_pool`).
        recheck_limits: the requests rechecks may make per cycle and per WIB day (settings
            ``recheck_requests_per_cycle``, ``recheck_requests_per_day``).
        sla: the service levels that order the rechecks (most urgent first); ``None``: longest unseen first.
        set_aside_after_failures: pull runs in a row in which reading a complaint failed for reasons
            of its own before it is set aside and the pull goes on (:mod:`lapor_sync.sync.read_failures`).
    """

    overlap: timedelta = timedelta(minutes=5)
    initial_since: datetime | None = None
    max_passes: int = 5
    recheck_after: timedelta = timedelta(hours=1)
    page_size: int = 100
    fetch_concurrency: int = 4
    recheck_limits: RecheckLimits = RecheckLimits(per_cycle=60, per_day=1440)
    sla: SlaPolicy | None = None
    set_aside_after_failures: int = 3


@dataclass(frozen=True)
class _Route:
    """Where a complaint's case goes.

    Attributes:
        agency_code: the agency that handles it.
        rule: the routing rule recorded on the case.
        state: the case state its national status maps to (``None``: keep the current one).
        routing: the mapping's decision, or ``None`` for a complaint no longer the city's (kept with
            its agency, marked forwarded).
    """

    agency_code: str
    rule: str
    state: CaseState | None
    routing: Routing | None


_Read = ComplaintSnapshot | MalformedRecord
"""What reading one complaint gave: its snapshot, or a record to set aside (malformed, or refused)."""
_Attempt = _Read | ReadFailed
"""What trying to read one complaint gave: a read, or a failure about that complaint alone."""


@dataclass(frozen=True)
class _Row:
    """One complaint on its way to storage.

    Attributes:
        read: what its read gave, or ``None``: an inbox row with nothing new, not read (``binding`` says so).
        seen_in_inbox: it came from the inbox (or is treated as such, see :meth:`Puller.reread`).
        binding: for a row not read, its stored binding.
    """

    read: _Read | None
    seen_in_inbox: bool
    binding: BindingState | None = None


@dataclass(frozen=True)
class _Plan:
    """What storing one snapshot takes, decided before the page's cases are received.

    Attributes:
        snapshot: the complaint as read.
        seen_in_inbox: see :class:`_Row`.
        fingerprint: the snapshot's fingerprint.
        binding: its stored binding, if any.
        route: where its case goes; ``None``: not the city's (nothing stored), or not needed (``unchanged``).
        unchanged: the snapshot is the one stored: take the shortcut, receive nothing.
    """

    snapshot: ComplaintSnapshot
    seen_in_inbox: bool
    fingerprint: str
    binding: BindingState | None
    route: _Route | None
    unchanged: bool

    @property
    def receipt(self) -> Receipt | None:
        """What to hand the city's records, or ``None`` when nothing is received."""
        if self.unchanged or self.route is None:
            return None
        return Receipt(self.snapshot, self.route.agency_code, self.route.rule, self.route.state)


@dataclass
class _Page:
    """A page of inbox rows new to this pull, its reads started and not yet stored.

    Attributes:
        entries: the rows, in the inbox's order.
        known: their stored bindings, by complaint id, as read before the reads started.
        wanted: the complaints being read by detail, in order.
        reads: ``(complaint id, read)`` of each, in order, as they come back.
    """

    entries: Sequence[InboxItem | MalformedRecord]
    known: dict[int, BindingState]
    wanted: Sequence[int]
    reads: Iterator[tuple[int, _Attempt]]

    def reads_any(self, entries: Iterable[InboxItem | MalformedRecord]) -> bool:
        """Whether this page reads a complaint that one of ``entries`` names too."""
        wanted = set(self.wanted)
        return any(entry.complaint_id in wanted for entry in entries)

    def read_one_in_full(self) -> None:
        """Take this page's reads up to the first in full or the first failure, keeping them for its finish.

        Taken early, they show whether the platform answers while the page before it settles a
        failure (:meth:`Puller._finish_page`). With a fetch pool they are under way already; without
        one (``fetch_concurrency`` 1), this makes them, one at a time.
        """
        taken = []
        for complaint_id, read in self.reads:
            taken.append((complaint_id, read))
            if isinstance(read, ComplaintSnapshot | ReadFailed):
                break  # a second failure with nothing read in full: the platform's, likely (ReadFailures.holds)
        self.reads = itertools.chain(taken, self.reads)


class Puller:
    """Runs the pull half of a sync cycle.

    Args:
        db: the city's database.
        platform: the national platform port.
        mapping: the city's routing rules.
        city_records: builds the city-records port on a session (the unit of work's).
        options: see :class:`PullOptions`.
    """

    def __init__(
        self,
        db: Database,
        platform: NationalPlatform,
        mapping: CityMapping,
        city_records: Callable[[Session], CityRecords],
        options: PullOptions,
    ) -> None:
        self.db = db
        self.platform = platform
        self.mapping = mapping
        self.city_records = city_records
        self.options = options
        self.institution_id = mapping.institution.id

    def run(self, journal: RunJournal, *, reconcile: bool = True) -> None:
        """Pull once, then (``reconcile``) recheck open cases not seen lately, see :meth:`reconcile`.

        Walks the inbox until a walk proves that nothing was skipped, stores every row new to this
        pull, sets malformed rows aside, and moves the cursor to the watermark's position with the
        date of its proven walk (CONTRACT §6). On any error below the cursor stays where it was. A
        complaint whose reads failed ``set_aside_after_failures`` runs in a row for reasons of its
        own is set aside instead, and the pull goes on (:mod:`lapor_sync.sync.read_failures`).

        Raises:
            ConfigurationError: there is no cursor yet and ``initial_since`` is not set.
            NationalPlatformError: the platform's errors that stop a run.
            RunInterrupted: a stop was requested (the journal's checkpoint between items).
            LeaseLost: the pull lease was lost (the same checkpoint).
        """
        cursor = self._mark(journal)
        failures = self._read_failures(journal)
        watermark = InboxWatermark(
            cursor.position,
            overlap=self.options.overlap,
            max_passes=self.options.max_passes,
            walked_at=cursor.walked_at,
        )
        for _ in watermark.passes(journal.clock.now):
            for binding in self._walk(journal, watermark, failures):
                watermark.stored(binding.national_updated_at, checked_at=binding.last_checked_at)
        if watermark.busy:
            # Every row read is stored, but the last walk may have skipped one that moved under it
            # (CONTRACT §6, page drift): the mark stays, so the next run walks the same rows again.
            journal.standalone_event(
                "pull.inbox_busy",
                f"The inbox kept changing during {self.options.max_passes} walks: what was read "
                "is stored; the cursor stays where it was so the next pull walks these rows again.",
                level=Level.WARNING,
            )
        if reconcile:
            self._recheck_open_cases(journal, watermark.seen_complaints, failures)
        position = watermark.position(journal.clock.now())
        if watermark.changes_cursor(position):
            self._advance_cursor(journal, position, walked_at=watermark.walked_at)

    def _mark(self, journal: RunJournal) -> InboxCursor:
        """Return the committed cursor, or ``initial_since`` (never walked) before the first successful pull."""
        with self._unit_of_work(journal) as unit:
            cursor = read_inbox_cursor(unit.session, self.institution_id)
        if cursor is not None:
            return cursor
        if self.options.initial_since is None:
            raise ConfigurationError("no cursor yet and no initial_since configured")
        return InboxCursor(self.options.initial_since, None)

    def _read_failures(self, journal: RunJournal) -> ReadFailures:
        """Load the counts of complaints whose reads failed in the runs before (one query)."""
        with self._unit_of_work(journal) as unit:
            connection = unit.session.connection()
            return ReadFailures.load(connection, self.institution_id, self.options.set_aside_after_failures)

    def _advance_cursor(self, journal: RunJournal, position: datetime, *, walked_at: datetime | None) -> None:
        """Move the cursor forward to ``position``, now that every row the pull read is stored; date its proven walk."""
        with self._unit_of_work(journal) as unit:
            advance_cursor(unit.session, self.institution_id, position, journal.clock.now(), walked_at=walked_at)

    @contextmanager
    def _unit_of_work(self, journal: RunJournal) -> Iterator[UnitOfWork]:
        """Open a unit of work; it commits once, on the way out (an exception rolls it back)."""
        with self.db.session() as session:
            unit = UnitOfWork(session, journal)
            yield unit
            unit.commit()

    def _walk(self, journal: RunJournal, watermark: InboxWatermark, failures: ReadFailures) -> Iterator[BindingState]:
        """Walk the inbox once from the watermark's start a page at a time; yield the bindings stored, in order.

        The watermark tells which rows are new to this pull and takes the walk's report. While a page is stored,
        the next one is read already: its bindings loaded, its reads started (:class:`FetchPool`).
        A page naming a complaint the page before it reads waits for that page to be stored, so
        that two reads of one complaint are never under way at once (the older could be stored last).

        Raises:
            NationalPlatformError, RunInterrupted, LeaseLost: as :meth:`run`; the rows read before
                the error are stored (:meth:`_finish_page`), those after it are not.
        """
        ahead: _Page | None = None
        pages = _pages(self.platform.walk_inbox(watermark.start, watermark.report), self.options.page_size)
        with FetchPool(self.options.fetch_concurrency, journal.checkpoint) as pool:
            while (entries := self._next_page(journal, pages, ahead, failures)) is not None:
                fresh = [entry for entry in entries if isinstance(entry, MalformedRecord) or watermark.seen(entry)]
                if ahead is not None and ahead.reads_any(fresh):
                    yield from self._finish_page(journal, ahead, failures)
                    ahead = None
                page = self._start_page(journal, pool, fresh)
                if ahead is not None:
                    yield from self._finish_page(journal, ahead, failures, then=page)
                ahead = page
            if ahead is not None:
                yield from self._finish_page(journal, ahead, failures)

    def _next_page(
        self,
        journal: RunJournal,
        pages: Iterator[list[InboxItem | MalformedRecord]],
        ahead: _Page | None,
        failures: ReadFailures,
    ) -> list[InboxItem | MalformedRecord] | None:
        """Pass the run's checkpoint, then return the walk's next page (``None``: the walk is over).

        On an error (a stop, a lost lease, the walk's own) the page read ahead is stored first, so
        that what was read is kept; the error goes on, and the cursor stays.
        """
        try:
            journal.checkpoint()
            return next(pages, None)
        except Exception:
            if ahead is not None:
                self._finish_page(journal, ahead, failures)
            raise

    def _start_page(
        self, journal: RunJournal, pool: FetchPool, entries: Sequence[InboxItem | MalformedRecord]
    ) -> _Page:
        """Load a page's bindings and start reading the rows that may have changed (:meth:`_may_have_changed`)."""
        items = [entry for entry in entries if isinstance(entry, InboxItem)]
        known: dict[int, BindingState] = {}
        if items:
            with self._unit_of_work(journal) as unit:
                known = load_bindings(unit.session.connection(), self.institution_id, [i.complaint_id for i in items])
        # The unit has ended: no transaction stays open while LAPOR! answers (a Retry-After may take minutes).
        wanted = [
            i.complaint_id
            for i in items
            if i.complaint_id not in known or self._may_have_changed(known[i.complaint_id], i)
        ]
        reads = pool.start(partial(self._fetch, set_aside_refusal=True), wanted)
        return _Page(entries, known, wanted, ((cid, _counted(journal, read)) for cid, read in reads))

    def _finish_page(
        self, journal: RunJournal, page: _Page, failures: ReadFailures, *, then: _Page | None = None
    ) -> list[BindingState]:
        """Wait for a page's reads and store the page in one unit of work; return the bindings stored, in order.

        When a read fails (a run-stopping error, a stop, a lost lease), the rows before it are
        stored and the error goes on: the cursor does not move past the row not stored. A read that
        failed about its complaint alone is counted (:meth:`_settle`): the complaint is set aside
        once it reaches the limit, and the page goes on; below it, the failure is the run's. When
        nothing was read in full yet in this run, the reads of the next page ``then`` are taken until
        one is: without it, a complaint failing last on its page would never count.
        """
        if not page.entries:
            return []
        reads: dict[int, _Read] = {}
        failed: list[ReadFailed] = []
        try:
            for complaint_id, read in page.reads:
                if isinstance(read, ReadFailed):
                    failed.append(read)
                else:
                    reads[complaint_id] = read
                if failed and failures.holds(failed, evidence=journal.counts.fetched > 0, run_id=journal.run_id):
                    break  # nothing after the first failure would be stored: no need to wait for it
            else:
                if failed and then is not None and journal.counts.fetched == 0:
                    then.read_one_in_full()
        except Exception:
            # A run-stopping error, a stop or a lost lease: what was read before it is kept, and the error goes on.
            self._store_rows(journal, _read_rows(page, reads), failures)
            raise
        blocking = self._settle(journal, failures, failed, reads) if failed else None
        stored = self._store_rows(journal, _read_rows(page, reads), failures)
        if blocking is not None:
            raise blocking.error
        return [b for b in stored if b is not None]

    def _settle(
        self, journal: RunJournal, failures: ReadFailures, failed: Sequence[ReadFailed], reads: dict[int, _Read]
    ) -> ReadFailed | None:
        """Count failed reads (:meth:`ReadFailures.settle`); put those set aside into ``reads`` as records to set aside.

        Each counted failure below the limit is a ``complaint.read_failed`` event, committed now:
        the run fails after it.

        Returns:
            The first failure that is not set aside (the run's error), or ``None``.
        """
        with self._unit_of_work(journal) as unit:
            verdict = failures.settle(
                unit.session.connection(),
                failed,
                evidence=journal.counts.fetched > 0,
                run_id=journal.run_id,
                now=journal.clock.now(),
            )
            for read, runs in verdict.failing if verdict.counted else ():
                journal.event(
                    unit.session,
                    "complaint.read_failed",
                    f"Complaint {read.complaint_id}: reading it failed {runs} pull run{'' if runs == 1 else 's'} "
                    f"in a row ({read.reason}); set aside after {failures.limit} runs",
                    level=Level.WARNING,
                    complaint_id=read.complaint_id,
                )
        for read in verdict.set_aside:
            reads[read.complaint_id] = MalformedRecord(read.complaint_id, failures.set_aside_reason(read), None)
        return verdict.blocking

    def _may_have_changed(self, binding: BindingState, item: InboxItem) -> bool:
        """Whether an inbox row may hold a change not yet stored.

        A newer ``updated_at`` surely does. An equal one may too until :meth:`_settled`: timestamps
        have second precision (CONTRACT §2), so a change made after our last read but within the
        same second is invisible in ``updated_at``, however long ago that second is.
        """
        if item.updated_at != binding.national_updated_at:
            return item.updated_at > binding.national_updated_at
        return not self._settled(binding)

    def _settled(self, binding: BindingState) -> bool:
        """Whether the binding's last read came after its ``national_updated_at`` second had surely ended."""
        return is_settled(binding.national_updated_at, binding.last_checked_at, self.options.overlap)

    def reconcile(self, journal: RunJournal) -> None:
        """Read by detail the open cases not seen for ``recheck_after``, under the recheck budget (CONTRACT §6).

        A complaint forwarded away, archived or auto-closed on the national side leaves the inbox;
        only its detail tells. Set-aside records are tried again too. The cursor is not touched.
        """
        self._recheck_open_cases(journal, frozenset(), self._read_failures(journal))

    def _recheck_open_cases(self, journal: RunJournal, seen: frozenset[int], failures: ReadFailures) -> None:
        """Read the open cases and set-aside records due for a recheck, except those in ``seen``, most urgent first.

        Stops when the cycle's or the day's budget is spent (:mod:`lapor_sync.sync.recheck`); the
        requests made are stored for the day, and an event ``pull.rechecked`` says how many were
        read and how many are still due.
        """
        now = journal.clock.now()
        name, day = budget_name(self.institution_id), wib_day(now)
        with self._unit_of_work(journal) as unit:
            due = due_rechecks(
                unit.session,
                self.institution_id,
                self.options.sla,
                due_since=now - self.options.recheck_after,
                now=now,
                overlap=self.options.overlap,
            )
            due = [candidate for candidate in due if candidate.complaint_id not in seen]
            if not due:
                return
            budget = RecheckBudget(self.options.recheck_limits, spent_today=spent_on(unit.session, name, day))
        rechecked = 0
        try:
            for _ in self._rechecks(journal, due, budget, failures):
                rechecked += 1
        finally:
            with self._unit_of_work(journal) as unit:
                record_spent(unit.session, name, day, budget.spent_today, journal.clock.now())
                journal.event(
                    unit.session,
                    "pull.rechecked",
                    f"Rechecked {rechecked} of {len(due)} complaints due ({budget.spent} requests; "
                    f"{budget.spent_today} of {self.options.recheck_limits.per_day} today); "
                    f"{len(due) - rechecked} still due.",
                )

    def _rechecks(
        self, journal: RunJournal, due: Sequence[RecheckCandidate], budget: RecheckBudget, failures: ReadFailures
    ) -> Iterator[int]:
        """Read and store the candidates in turn while the budget allows; yield each one's complaint id once read.

        A read that failed about its complaint alone is counted, and set aside at the limit, as in
        the walk (:meth:`_settle`); when nothing was read in full yet in this run, the next read is
        made first, to show whether the platform answers.
        """
        pending: list[ReadFailed] = []
        for candidate in due:
            if not budget.allows():
                break
            journal.checkpoint()
            with self._unit_of_work(journal) as unit:
                read = self._fetch_and_store(
                    unit,
                    journal,
                    candidate.complaint_id,
                    failures,
                    seen_in_inbox=candidate.set_aside,
                    unchanged_since=candidate.unchanged_since,
                    budget=budget,
                )
            yield candidate.complaint_id
            if isinstance(read, ReadFailed):
                pending.append(read)
                if not failures.holds(pending, evidence=journal.counts.fetched > 0, run_id=journal.run_id):
                    continue  # the next read may show that the platform answers, or count it with the rest
            if pending:
                self._set_aside_or_raise(journal, failures, pending)
                pending = []
        if pending:
            self._set_aside_or_raise(journal, failures, pending)

    def _set_aside_or_raise(self, journal: RunJournal, failures: ReadFailures, failed: Sequence[ReadFailed]) -> None:
        """Count failed reads of rechecks (:meth:`_settle`); set aside those at the limit, then raise for the others."""
        records: dict[int, _Read] = {}
        blocking = self._settle(journal, failures, failed, records)
        if records:
            self._store_rows(journal, [_Row(record, seen_in_inbox=True) for record in records.values()], failures)
        if blocking is not None:
            raise blocking.error

    def reread(
        self, journal: RunJournal, complaint_id: int, *, seen_in_inbox: bool, known: bool
    ) -> BindingState | None:
        """Read one complaint by detail and store it under the current mapping (``lapor-sync resync``).

        Unlike a pull, an unchanged complaint is routed again, so a corrected mapping moves its case
        (event ``complaint.moved``); one the mapping decides the same way stays unchanged, no event.
        ``seen_in_inbox``: treat it as an inbox row (set-aside records, as :meth:`reconcile` does).
        ``known``: the city has a case or set-aside record of it; only then is a refusal set aside.
        Returns the binding, or ``None`` (set aside, or not the city's).

        A read that succeeds deletes the complaint's count of failed runs (:mod:`lapor_sync.sync.read_failures`);
        one that fails counts nothing (a resync is not a pull run) and is raised.

        Raises:
            ItemRejectedError: LAPOR! refused the detail call (e.g. 404) for a complaint not ``known``.
            NationalPlatformError: reading it failed, as any read (the resync fails).
        """
        with self._unit_of_work(journal) as unit:
            failures = ReadFailures.load(
                unit.session.connection(), self.institution_id, self.options.set_aside_after_failures
            )
            read = self._fetch_and_store(
                unit, journal, complaint_id, failures, seen_in_inbox=seen_in_inbox, force=True, set_aside_refusal=known
            )
        if isinstance(read, ReadFailed):
            raise read.error
        return read

    def _fetch_and_store(
        self,
        unit: UnitOfWork,
        journal: RunJournal,
        complaint_id: int,
        failures: ReadFailures,
        *,
        seen_in_inbox: bool,
        force: bool = False,
        set_aside_refusal: bool = True,
        unchanged_since: datetime | None = None,
        budget: RecheckBudget | None = None,
    ) -> BindingState | ReadFailed | None:
        """Read one complaint and store it in ``unit``, as a page of one; return its binding (``None``: set aside or not the city's).

        ``unchanged_since``: see :meth:`_fetch`. ``budget``: the recheck budget the read's requests count against.
        A read that failed about the complaint alone is returned, nothing stored: the caller decides.
        """
        read = self._fetch(complaint_id, set_aside_refusal=set_aside_refusal, unchanged_since=unchanged_since)
        if budget is not None:
            # A read set aside or failed made its detail request at least.
            budget.spend(read.requests if isinstance(read, ComplaintSnapshot) else 1)
        if isinstance(read, ReadFailed):
            return read
        read = _counted(journal, read)
        [binding] = self._store_in(unit, journal, [_Row(read, seen_in_inbox)], failures, force=force)
        return binding

    def _fetch(
        self, complaint_id: int, *, set_aside_refusal: bool, unchanged_since: datetime | None = None
    ) -> _Attempt:
        """Read one complaint by detail: its snapshot, a record to set aside (malformed, or refused), or a failure.

        A failure is returned when it is about this complaint alone (:func:`about_one_complaint`);
        every other error is raised.

        Runs in a fetch thread (:mod:`lapor_sync.sync.fetch_pool`): it reads LAPOR! and nothing else,
        no database and no journal. ``unchanged_since``: the stored, settled ``updated_at`` of a
        complaint with a binding; a detail showing it again skips the follow-ups (the snapshot's
        ``thread`` is ``None``: the store takes the unchanged path). An inbox row is read only when
        it may have changed, so only rechecks pass it.

        Raises:
            ItemRejectedError: LAPOR! refused the detail call and ``set_aside_refusal`` is false.
        """
        try:
            snapshot = self.platform.fetch_complaint(complaint_id, unchanged_since=unchanged_since)
        except MalformedRecordError as exc:
            return MalformedRecord(exc.complaint_id or complaint_id, exc.reason, exc.raw)
        except ItemRejectedError as exc:
            if not set_aside_refusal:
                raise
            return MalformedRecord(complaint_id, f"the platform refused the detail call: {exc}", None)
        except TransientError as exc:
            if not about_one_complaint(exc):
                raise
            return ReadFailed(complaint_id, exc)
        return snapshot

    def _store_rows(
        self, journal: RunJournal, rows: Sequence[_Row], failures: ReadFailures
    ) -> list[BindingState | None]:
        """Store a page of rows in one unit of work; return each row's binding (``None``: set aside or not the city's)."""
        with self._unit_of_work(journal) as unit:
            return self._store_in(unit, journal, rows, failures)

    def _store_in(
        self,
        unit: UnitOfWork,
        journal: RunJournal,
        rows: Sequence[_Row],
        failures: ReadFailures,
        *,
        force: bool = False,
    ) -> list[BindingState | None]:
        """Store ``rows`` in ``unit``; when another worker stored one of them first, store them one by one.

        ``force`` (resync) routes an unchanged complaint again instead of taking the shortcut.
        """
        try:
            stored = self._store_page(unit, journal, rows, failures, force=force)
            unit.session.flush()  # a duplicate is refused here at the latest, while the rows can still be stored again
            return stored
        except IntegrityError:
            # Another worker stored one of these complaints between our read and our insert: the
            # unique binding index refused the duplicate. Store each row again, each in a fresh unit:
            # the one stored meanwhile is then an update.
            unit.rollback()
        stored = []
        for row in rows:
            with self._unit_of_work(journal) as again:
                stored += self._store_page(again, journal, [row], failures, force=force)
        return stored

    def _store_page(
        self, unit: UnitOfWork, journal: RunJournal, rows: Sequence[_Row], failures: ReadFailures, *, force: bool
    ) -> list[BindingState | None]:
        """Store ``rows`` (distinct complaints) in ``unit`` with a few statements for all: see :meth:`_store_in`.

        A complaint read in full loses its count of failed runs (:meth:`ReadFailures.succeeded`).
        """
        connection = unit.session.connection()
        ids = [row.read.complaint.complaint_id for row in rows if isinstance(row.read, ComplaintSnapshot)]
        bindings = load_bindings(connection, self.institution_id, ids)
        page = PageWrites(
            self.institution_id, unresolved_set_aside(connection, self.institution_id, ids), journal.clock.now()
        )
        overrides = load_overrides(connection, [binding.case_id for binding in bindings.values()])
        records = self.city_records(unit.session)
        plans = [self._plan(records, row, bindings, overrides, force=force) for row in rows]
        receipts = [receipt for plan in plans if plan is not None and (receipt := plan.receipt) is not None]
        received = iter(records.receive_many(receipts) if receipts else [])
        stored = [
            self._store_row(unit, journal, page, row, plan, received) for row, plan in zip(rows, plans, strict=True)
        ]
        page.execute(connection)
        failures.succeeded(connection, ids)
        return stored

    def _plan(
        self,
        records: CityRecords,
        row: _Row,
        bindings: dict[int, BindingState],
        overrides: dict[int, AgencyOverride],
        *,
        force: bool,
    ) -> _Plan | None:
        """Decide how to store a row's snapshot (``None``: the row holds none); ``overrides`` by case id."""
        if not isinstance(row.read, ComplaintSnapshot):
            return None
        snapshot, complaint = row.read, row.read.complaint
        binding = bindings.get(complaint.complaint_id)
        if snapshot.thread is None and binding is not None:  # the detail showed nothing new (see _fetch)
            return _Plan(snapshot, row.seen_in_inbox, binding.content_hash, binding, None, unchanged=True)
        fingerprint = snapshot_fingerprint(snapshot)
        if binding is not None and binding.content_hash == fingerprint and not force:
            return _Plan(snapshot, row.seen_in_inbox, fingerprint, binding, None, unchanged=True)
        override = overrides.get(binding.case_id) if binding is not None else None
        route = self._route(records, complaint, binding, override, seen_in_inbox=row.seen_in_inbox)
        return _Plan(snapshot, row.seen_in_inbox, fingerprint, binding, route, unchanged=False)

    def _store_row(
        self,
        unit: UnitOfWork,
        journal: RunJournal,
        page: PageWrites,
        row: _Row,
        plan: _Plan | None,
        received: Iterator[Received],
    ) -> BindingState | None:
        """Finish storing one row in ``unit``, in page order; ``received`` yields the page's receipts in order."""
        if isinstance(row.read, MalformedRecord):
            self._set_aside(unit, journal, row.read, page.events)
            return None
        if plan is None:  # an inbox row with nothing new: nothing read, nothing to write
            unit.count("unchanged")
            return row.binding
        if plan.unchanged:
            return self._unchanged(unit, page, plan)
        if plan.route is None:
            return None  # never ours and no longer ours: nothing to keep
        return self._received(unit, journal, page, plan, next(received))

    def _received(
        self, unit: UnitOfWork, journal: RunJournal, page: PageWrites, plan: _Plan, received: Received
    ) -> BindingState:
        """Record what receiving a snapshot did: its binding, its sync events, its set-aside records resolved."""
        assert plan.route is not None  # a plan with no route receives nothing
        binding, complaint = plan.binding, plan.snapshot.complaint
        if binding is not None and binding.content_hash == plan.fingerprint and _changes_nothing(received):
            return self._confirmed(unit, page, binding)
        stored = self._bind(complaint, binding, received.case_id, plan.fingerprint, page.now, plan.seen_in_inbox)
        if binding is None:
            page.insert(stored)
        else:
            page.update(stored)
        self._record_events(page.events, journal, plan.snapshot, received, plan.route)
        page.resolve(complaint.complaint_id)
        unit.count("created" if received.outcome is ReceiveOutcome.CREATED else "updated")
        return stored

    def _unchanged(self, unit: UnitOfWork, page: PageWrites, plan: _Plan) -> BindingState:
        """Take the shortcut for a read of what is stored: write only what moves the sync forward."""
        assert plan.binding is not None  # the shortcut is for a complaint stored before
        binding, complaint = plan.binding, plan.snapshot.complaint
        # What moves it forward: a newer mark, a recheck, a read that settles a same-second doubt, a
        # set-aside record now read in full. A repeated read of settled data writes nothing.
        settles = not self._settled(binding)
        resolved = page.resolve(complaint.complaint_id)
        if complaint.updated_at > binding.national_updated_at or not plan.seen_in_inbox or settles or resolved:
            mark = max(binding.national_updated_at, complaint.updated_at)
            binding = replace(binding, national_updated_at=mark, last_checked_at=page.now)
            page.update(binding)
        unit.count("unchanged")
        return binding

    def _route(
        self,
        records: CityRecords,
        complaint: Complaint,
        binding: BindingState | None,
        override: AgencyOverride | None,
        *,
        seen_in_inbox: bool,
    ) -> _Route | None:
        """Decide the case's agency, rule and state; ``None``: the complaint is not the city's and never was.

        This is where every pull, recheck and resync routes a complaint: an admin's ``override`` of
        its case (``lapor-sync case reassign``) is honoured here, so no later read moves the case back.
        """
        # The inbox lists only complaints dispositioned to the city's tree (CONTRACT §5): one seen
        # there is the city's even when its sub-unit is missing from the mapping (it goes to triage).
        if seen_in_inbox or self.mapping.is_city_institution(complaint.disposition_id):
            routing = self.mapping.route(
                complaint.disposition_id, complaint.category_id, complaint.category_name, override
            )
            state = self.mapping.case_state_for(complaint.status_code)
            return _Route(routing.agency_code, routing.rule, state, routing)
        if binding is None:
            return None
        existing = records.get_case(case_id=binding.case_id)
        return _Route(existing.agency_code, existing.routing_rule, CaseState.FORWARDED, None)

    def _confirmed(self, unit: UnitOfWork, page: PageWrites, binding: BindingState) -> BindingState:
        """Record a forced read the current mapping decides as the case already says: checked, unchanged."""
        binding = replace(binding, last_checked_at=page.now)
        page.update(binding)
        page.resolve(binding.complaint_id)
        unit.count("unchanged")
        return binding

    @staticmethod
    def _bind(
        complaint: Complaint,
        binding: BindingState | None,
        case_id: int,
        fingerprint: str,
        now: datetime,
        seen_in_inbox: bool,
    ) -> BindingState:
        """The binding of complaint and case, created or moved forward: mark, fingerprint, when read."""
        if binding is None:
            seen = now if seen_in_inbox else None
            return BindingState(
                complaint.complaint_id, complaint.tracking_id, case_id, complaint.updated_at, fingerprint, now, seen
            )
        return replace(
            binding,
            national_updated_at=max(binding.national_updated_at, complaint.updated_at),
            content_hash=fingerprint,
            last_checked_at=now,
            last_seen_in_inbox_at=now if seen_in_inbox else binding.last_seen_in_inbox_at,
        )

    def _record_events(
        self,
        events: list[dict[str, Any]],
        journal: RunJournal,
        snapshot: ComplaintSnapshot,
        received: Received,
        route: _Route,
    ) -> None:
        """Add the sync events of this receipt to the page's ``events``, committed with the change they tell."""
        complaint = snapshot.complaint
        # Seen in the inbox but dispositioned to a sub-unit the mapping lacks (see _route).
        unknown_sub_unit = route.routing is not None and not self.mapping.is_city_institution(complaint.disposition_id)
        record_receipt(
            events, journal, snapshot, received, route.routing, route.state, unknown_sub_unit=unknown_sub_unit
        )

    def _set_aside(
        self, unit: UnitOfWork, journal: RunJournal, record: MalformedRecord, events: list[dict[str, Any]]
    ) -> None:
        """Keep a record that cannot be stored, with its reason, in ``unit``; one already kept is marked seen again.

        Its event goes to the page's ``events``, in page order.
        """
        now = journal.clock.now()
        raw = json.dumps(record.raw, ensure_ascii=False, default=str)
        reason = mask_personal_data(record.reason)  # a reason may quote a server's message
        if self._purged(unit.session, record.complaint_id):
            raw = json.dumps(PURGED_TEXT)  # its case was purged (lapor_sync.sync.admin.purge): it stays purged
        existing = unit.session.exec(
            select(SetAsideRecord).where(
                SetAsideRecord.institution_id == self.institution_id,
                SetAsideRecord.complaint_id == record.complaint_id,
                SetAsideRecord.reason == reason,
                SetAsideRecord.raw == raw,
                SetAsideRecord.resolved_at == None,
            )
        ).first()  # noqa: E711  (SQL IS NULL)
        if existing is not None:
            existing.last_seen_at = now  # paces the next retry (see _recheck_open_cases)
            unit.session.add(existing)
            return
        unit.session.add(
            SetAsideRecord(
                institution_id=self.institution_id,
                run_id=journal.run_id,
                complaint_id=record.complaint_id,
                reason=reason,
                raw=raw,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
        journal.event_into(
            events,
            "complaint.set_aside",
            f"Complaint {record.complaint_id or '(id unreadable)'} set aside: {reason}",
            level=Level.WARNING,
            complaint_id=record.complaint_id,
        )
        unit.count("set_aside")

    def _purged(self, session: Session, complaint_id: int | None) -> bool:
        """Whether the city's case of ``complaint_id`` was purged."""
        purged = select(Case.id).where(
            Case.institution_id == self.institution_id,
            Case.complaint_id == complaint_id,
            col(Case.purged_at).is_not(None),
        )
        return session.exec(purged).first() is not None


def _pages(entries: Iterable[InboxItem | MalformedRecord], size: int) -> Iterator[list[InboxItem | MalformedRecord]]:
    """Cut the inbox walk into pages of up to ``size`` rows, each naming a complaint once.

    A page is handed on as soon as it is full, before the walk asks for the next page of the inbox.
    A complaint seen again (it moved during the walk) starts a new page: a page stores each
    complaint once, against the bindings read before it.
    """
    page: list[InboxItem | MalformedRecord] = []
    ids: set[int] = set()
    for entry in entries:
        if entry.complaint_id in ids:
            yield page
            page, ids = [], set()
        page.append(entry)
        if entry.complaint_id is not None:
            ids.add(entry.complaint_id)
        if len(page) >= size:
            yield page
            page, ids = [], set()
    if page:
        yield page


def _read_rows(page: _Page, reads: dict[int, _Read]) -> list[_Row]:
    """The rows of a page to store, in order: up to the first row whose read did not come back (it failed)."""
    wanted = set(page.wanted)
    rows = []
    for entry in page.entries:
        if isinstance(entry, MalformedRecord):
            rows.append(_Row(entry, seen_in_inbox=True))
        elif entry.complaint_id in reads:
            rows.append(_Row(reads[entry.complaint_id], seen_in_inbox=True))
        elif entry.complaint_id in wanted:
            break  # its read failed: nothing after it is stored, so the cursor cannot pass it
        else:
            rows.append(_Row(None, seen_in_inbox=True, binding=page.known[entry.complaint_id]))
    return rows


def _counted(journal: RunJournal, read: _Read) -> _Read:
    """Count a complaint read in full on the run's ``fetched`` as its read comes back; return the read."""
    if isinstance(read, ComplaintSnapshot):
        journal.counts.fetched += 1  # the read happened, whether or not its store commits
    return read


def _changes_nothing(received: Received) -> bool:
    """Whether storing an unchanged snapshot again left the case as it was (same agency and state)."""
    return (
        received.outcome is ReceiveOutcome.UPDATED
        and received.previous_agency_code is None
        and received.previous_state == received.state
        and not received.new_thread_entries
        and not received.confirmed_own_entries
    )
