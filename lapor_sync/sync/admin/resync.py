"""Manual resync: re-read chosen complaints from LAPOR! and store them under the current mapping.

An admin runs it after correcting the mapping file (cases move to the agency the mapping now
names, each move a ``complaint.moved`` event with the old and the new agency), to repair cases
that drifted, or to retry set-aside records. It is one sync run (job ``resync``, trigger
``manual``) holding the ``pull`` lease, so it never interleaves with a scheduled pull.

``dry_run`` runs the very same code on :class:`~lapor_sync.storage.dry_run.RolledBackDatabase`:
every change is made and then rolled back, so nothing about cases, bindings, threads, set-aside
records, agencies or the cursor changes, and no per-complaint sync event is written. The run row itself is
kept (job ``resync``, outcome ``ok``) with one ``resync.dry_run`` event saying who asked, what was
selected and what would have changed: IT staff see that a dry run happened. Its counters show only
``fetched``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Unpack

from sqlmodel import Session

from lapor_sync.config.settings import require_national
from lapor_sync.domain.errors import ItemRejectedError, TransientError
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.runs import Job
from lapor_sync.storage.dry_run import RolledBackDatabase
from lapor_sync.storage.models import COUNTERS, SyncRun
from lapor_sync.sync.admin.selection import Selection, Target, select_targets
from lapor_sync.sync.journal import About, Level, RunJournal, RunTally
from lapor_sync.sync.pull import Puller
from lapor_sync.sync.read_failures import ReadFailed, about_one_complaint
from lapor_sync.sync.service import SyncService, sync_agencies

if TYPE_CHECKING:
    from lapor_sync.app import App

JOB = Job.RESYNC


class ResyncOutcome(StrEnum):
    """What a resync did (or, in a dry run, would do) to one complaint."""

    CREATED = "created"
    UPDATED = "updated"
    MOVED = "moved"
    UNCHANGED = "unchanged"
    SET_ASIDE = "set aside"
    NOT_FOUND = "not found"


@dataclass(frozen=True)
class Change:
    """One complaint's line in the resync report.

    Attributes:
        complaint_id: the national complaint id (``None`` for an unknown tracking id).
        tracking_id: its tracking id, when known.
        outcome: see :class:`ResyncOutcome`.
        old_agency: the case's agency before, when it had a case.
        new_agency: the case's agency after (the same as ``old_agency`` unless created or moved).
        details: what changed and why, from the sync events (no personal data).
    """

    complaint_id: int | None
    tracking_id: str | None
    outcome: ResyncOutcome
    old_agency: str | None = None
    new_agency: str | None = None
    details: str = ""


@dataclass
class ResyncResult:
    """A finished resync: its run row, whether it was a dry run, and one change per complaint."""

    run: SyncRun
    dry_run: bool
    changes: list[Change]

    def summary(self) -> dict[str, int]:
        """Count of complaints per outcome, every outcome present (zeros included)."""
        counted = Counter(change.outcome for change in self.changes)
        return {outcome.value: counted[outcome] for outcome in ResyncOutcome}


@dataclass
class _ItemJournal(RunJournal):
    """The run's journal for one complaint: its own counters, and the events it is given.

    ``write=False`` (dry run) records the events without adding them to the session or to a batch
    of rows, nor logging them, so the service log never claims a change that was rolled back.
    """

    write: bool = True
    recorded: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)
    """(kind, agency code, tracking id, message) of each event, in order."""

    @classmethod
    def of(cls, journal: RunJournal, *, write: bool) -> _ItemJournal:
        """Share ``journal``'s run (id, clock, stop request, leases), with fresh counters."""
        shared = {f.name: getattr(journal, f.name) for f in fields(RunJournal) if f.init}
        return cls(**{**shared, "counts": RunTally()}, write=write)

    def event(
        self, session: Session, kind: str, message: str, *, level: Level = Level.INFO, **about: Unpack[About]
    ) -> None:
        """Record the event; add it to ``session`` too unless this is a dry run."""
        if self._kept(kind, message, about):
            super().event(session, kind, message, level=level, **about)

    def event_into(
        self,
        rows: list[dict[str, Any]],
        kind: str,
        message: str,
        *,
        level: Level = Level.INFO,
        **about: Unpack[About],
    ) -> None:
        """Record the event; append it to ``rows`` too unless this is a dry run (as :meth:`event`)."""
        if self._kept(kind, message, about):
            super().event_into(rows, kind, message, level=level, **about)

    def _kept(self, kind: str, message: str, about: About) -> bool:
        """Record an event in :attr:`recorded`; return whether it is also to be written (not a dry run)."""
        self.recorded.append((kind, about.get("agency_code"), about.get("tracking_id"), message))
        return self.write


def run_resync(
    service: SyncService,
    selection: Selection,
    *,
    requested_by: str,
    dry_run: bool = False,
    lease_wait_seconds: float = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> ResyncResult:
    """Re-read the selected complaints from LAPOR! (detail and thread) and apply the current mapping.

    Args:
        service: the sync service (its database, mapping, puller options, platform and leases).
        selection: what to re-read.
        requested_by: who asked (the OS user), named in the run's closing event.
        dry_run: make and roll back every change (see the module docstring).
        lease_wait_seconds: how long to wait for the ``pull`` lease, seconds.
        on_progress: called with (done, total) after each complaint.

    Any thread may call it (the web console runs it off the request's thread): it opens its own
    sessions, and the ``pull`` lease is not re-entrant, so a worker's scheduled pull in the same
    process waits or skips as another process's would. Give it a service whose platform client
    that thread made (``App.sync_service(App.platform())``): the OAuth2 client is not thread-safe.
    A selection of many cases is one run: ``Selection(complaint_ids=(...))``.

    Returns:
        The run (``ok``; or ``failed`` with its reason when LAPOR! failed mid-way, with the changes
        made up to then; ``run.id`` is the new run's id) and the changes.

    Raises:
        SelectionError: see :meth:`Selection.check`; nothing was done.
        LeaseBusy: another runner still holds the ``pull`` lease after ``lease_wait_seconds``.
    """
    selection.check(service.mapping)
    puller = service.puller
    db = service.db
    if dry_run:
        db = RolledBackDatabase(db, prepare=partial(_add_agencies, mapping=service.mapping))
    rereader = Puller(db, puller.platform, service.mapping, puller.city_records, puller.options)
    changes: list[Change] = []
    failed: list[int] = []

    def work(journal: RunJournal) -> None:
        with service.db.session() as session:
            targets, unknown = select_targets(session, service.mapping.institution.id, selection)
        changes.extend(
            Change(
                None,
                t,
                ResyncOutcome.NOT_FOUND,
                details="no complaint with this tracking id in the city's records; name it by --complaint-id",
            )
            for t in unknown
        )
        for done, target in enumerate(targets, start=1):
            journal.checkpoint()
            changes.append(_reread(rereader, journal, target, failed, dry_run=dry_run))
            if on_progress is not None:
                on_progress(done, len(targets))
        _close(journal, selection, changes, requested_by=requested_by, dry_run=dry_run)

    run = service.execute(
        JOB, work, leases=(Job.PULL,), trigger="manual", lease_wait_seconds=lease_wait_seconds, agencies=not dry_run
    )
    return ResyncResult(run, dry_run, changes)


def resync_from_settings(
    app: App,
    selection: Selection,
    *,
    requested_by: str,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> ResyncResult:
    """Run :func:`run_resync` with a national client built from ``app``'s settings, closed afterwards.

    ``lapor-sync resync`` and the console's resync both come here. Waits for the ``pull`` lease up
    to the ``lease_wait_seconds`` setting.

    Args:
        app: the application (settings, database, mapping).
        selection: what to re-read.
        requested_by: who asked (the OS user, or the console's user), named in the run's closing event.
        dry_run: make and roll back every change (see the module docstring).
        on_progress: called with (done, total) after each complaint.

    Returns:
        As :func:`run_resync`: a run that LAPOR! failed mid-way is ``failed`` with its reason.

    Raises:
        ConfigurationError: a setting needed to reach LAPOR! is missing.
        SelectionError, LeaseBusy: as :func:`run_resync`.
    """
    require_national(app.settings)
    with app.platform() as platform:
        return run_resync(
            app.sync_service(platform),
            selection,
            requested_by=requested_by,
            dry_run=dry_run,
            lease_wait_seconds=app.settings.lease_wait_seconds,
            on_progress=on_progress,
        )


def _add_agencies(session: Session, *, mapping: CityMapping) -> None:
    """Dry run: the agencies a corrected mapping adds exist in this session only (cases may move to them)."""
    if sync_agencies(session, mapping):
        session.flush()


def _reread(puller: Puller, journal: RunJournal, target: Target, failed: list[int], *, dry_run: bool) -> Change:
    """Re-read one complaint and tell what happened to it.

    A set-aside complaint whose read fails again for reasons of its own (``{"results": null}``, a
    5xx for its URL: :func:`~lapor_sync.sync.read_failures.about_one_complaint`) stays set aside,
    is added to ``failed``, and the resync goes on to the next; any other failure ends the run, and
    so does a second such failure while no complaint was read in full (the platform's, likely: as
    :meth:`~lapor_sync.sync.read_failures.ReadFailures.holds`).
    """
    item = _ItemJournal.of(journal, write=not dry_run)
    try:
        puller.reread(item, target.complaint_id, seen_in_inbox=target.set_aside_reason is not None, known=target.known)
    except ItemRejectedError as exc:
        return Change(
            target.complaint_id,
            target.tracking_id,
            ResyncOutcome.NOT_FOUND,
            details=f"LAPOR! refused the detail call ({exc}); nothing stored",
        )
    except TransientError as exc:
        if target.set_aside_reason is None or not about_one_complaint(exc) or (failed and not journal.counts.fetched):
            raise
        failed.append(target.complaint_id)
        return Change(
            target.complaint_id,
            target.tracking_id,
            ResyncOutcome.SET_ASIDE,
            details=f"still set aside: reading it failed again ({ReadFailed(target.complaint_id, exc).reason})",
        )
    finally:
        for name in COUNTERS if not dry_run else ("fetched",):
            setattr(journal.counts, name, getattr(journal.counts, name) + getattr(item.counts, name))
    return _change(target, item)


def _change(target: Target, item: _ItemJournal) -> Change:
    """Read the outcome off one complaint's counters and events."""
    counts = item.counts
    tracking = target.tracking_id or next((t for _, _, t, _ in item.recorded if t), None)
    details = "; ".join(_short(message) for *_, message in item.recorded)
    agency_after = next((agency for _, agency, _, _ in reversed(item.recorded) if agency), target.agency_code)
    moved = any(kind == "complaint.moved" for kind, *_ in item.recorded)
    if counts.set_aside or (not counts.fetched and target.set_aside_reason):
        outcome = ResyncOutcome.SET_ASIDE
        details = details or f"still set aside: {target.set_aside_reason}"
    elif counts.created:
        outcome = ResyncOutcome.CREATED
    elif moved:
        outcome = ResyncOutcome.MOVED
    elif counts.updated:
        outcome = ResyncOutcome.UPDATED
    elif counts.unchanged:
        outcome = ResyncOutcome.UNCHANGED
    else:
        return Change(
            target.complaint_id,
            tracking,
            ResyncOutcome.NOT_FOUND,
            details="LAPOR! has it, but it is not dispositioned to the city; nothing stored",
        )
    if target.set_aside_reason and outcome is not ResyncOutcome.SET_ASIDE:
        details = "; ".join(filter(None, [details, "set-aside record resolved"]))
    return Change(
        target.complaint_id,
        tracking,
        outcome,
        target.agency_code,
        agency_after if outcome is not ResyncOutcome.SET_ASIDE else target.agency_code,
        details,
    )


def _short(message: str) -> str:
    """Drop what the report's other columns say already: "Complaint #123 ", "moved from A to B: "."""
    return re.sub(r"^Complaint #?\S+ (moved from \S+ to \S+: )?", "", message).rstrip(".")


def _close(
    journal: RunJournal, selection: Selection, changes: list[Change], *, requested_by: str, dry_run: bool
) -> None:
    """Write the run's closing event: who asked, what was selected, what changed (or would have)."""
    counted = Counter(change.outcome for change in changes)
    tally = ", ".join(f"{counted[o]} {o.value}" for o in ResyncOutcome if counted[o]) or "nothing selected"
    if dry_run:
        journal.standalone_event(
            "resync.dry_run",
            f"Dry-run resync by {requested_by} of {selection.describe()}: "
            f"{len(changes)} complaint{'' if len(changes) == 1 else 's'}, would be {tally}; nothing was written.",
        )
    else:
        journal.standalone_event(
            "resync.done",
            f"Resync by {requested_by} of {selection.describe()}: "
            f"{len(changes)} complaint{'' if len(changes) == 1 else 's'}, {tally}.",
        )
