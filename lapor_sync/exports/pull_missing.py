"""``reconcile-export --pull-missing``: find in the inbox the complaints an export names and the city lacks, and store them.

LAPOR! has no lookup by tracking id (CONTRACT §5): the inbox is walked from the earliest day the
export gives for them, and stopped as soon as every one was met, so no page is read that cannot
find one. The complaints met are stored by :func:`~lapor_sync.sync.admin.resync.run_resync` (one
detail read each, then the normal pull path: routing, the case, its thread, its binding, its
events), never by a path of their own. Those the walk does not meet have left the inbox
(forwarded away, or not the city's) and are reported as not met.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlmodel import select

from lapor_sync.domain.complaint import MalformedRecord
from lapor_sync.domain.ports import InboxWalkReport, NationalPlatform
from lapor_sync.domain.timezones import WIB
from lapor_sync.storage.models import Case
from lapor_sync.sync.admin.resync import Change, ResyncOutcome, ResyncResult, run_resync
from lapor_sync.sync.admin.selection import Selection
from lapor_sync.sync.service import SyncService


@dataclass
class InboxSearch:
    """What one inbox walk met.

    Attributes:
        found: tracking id → complaint id, for the tracking ids looked for.
        untracked: complaints the city has no case of whose inbox row carries no readable tracking id:
            only their detail can say whether they are among those looked for.
        pages: inbox pages read (each one request).
        stopped_early: the walk stopped because every tracking id looked for was met.
    """

    found: dict[str, int] = field(default_factory=dict)
    untracked: list[int] = field(default_factory=list)
    pages: int = 0
    stopped_early: bool = False


def search_inbox(
    platform: NationalPlatform, wanted: Collection[str], since: datetime, known: Collection[int]
) -> InboxSearch:
    """Walk the inbox once from ``since`` (aware, inclusive) for the complaints with the ``wanted`` tracking ids.

    Args:
        platform: the national platform.
        wanted: tracking ids (digits).
        since: where the walk starts: the earliest day the export gives for them.
        known: complaint ids the city has cases of (rows of theirs without a tracking id need no detail read).

    Returns:
        What the walk met; it stops at the first row after which every wanted id was met.

    Raises:
        NationalPlatformError: as :meth:`NationalPlatform.walk_inbox` (a failed page, a pagination loop).
    """
    search, report = InboxSearch(), InboxWalkReport()
    walk = platform.walk_inbox(since, report)
    try:
        for item in walk:
            if isinstance(item, MalformedRecord):
                continue  # the pull sets it aside; its id is not known to be wanted
            if item.tracking_id in wanted:
                search.found[item.tracking_id] = item.complaint_id
                if len(search.found) == len(wanted):
                    search.stopped_early = True
                    break
            elif item.tracking_id is None and item.complaint_id not in known:
                search.untracked.append(item.complaint_id)
    finally:
        walk.close()
        search.pages = report.pages
    return search


@dataclass
class PullMissing:
    """What ``--pull-missing`` did.

    Attributes:
        since: where the inbox walk started (aware).
        search: what the walk met.
        resync: the run that stored the complaints met (``None`` when none was met).
        stored: the changes of the wanted tracking ids that are now in the city's records.
        others: complaints read because their inbox row had no tracking id and that are not wanted
            (stored all the same: they are the city's and were missing).
        refused: wanted complaints met whose detail could not be stored (set aside, refused), with why.
        not_met: wanted tracking ids the walk did not meet: they left the inbox (forwarded away) or
            are not the city's.
    """

    since: datetime
    search: InboxSearch
    resync: ResyncResult | None
    stored: list[Change] = field(default_factory=list)
    others: list[Change] = field(default_factory=list)
    refused: list[Change] = field(default_factory=list)
    not_met: list[str] = field(default_factory=list)


_STORED = (ResyncOutcome.CREATED, ResyncOutcome.UPDATED, ResyncOutcome.MOVED, ResyncOutcome.UNCHANGED)


def pull_missing(
    service: SyncService,
    wanted: dict[str, date | None],
    *,
    fallback_since: datetime,
    requested_by: str,
    lease_wait_seconds: float = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> PullMissing:
    """Find the ``wanted`` complaints in the inbox and store them through the resync path.

    Args:
        service: the sync service (database, mapping, platform, leases).
        wanted: tracking id → the export's day for it (``None`` when undated).
        fallback_since: where the walk starts when no wanted row is dated (``initial_since``).
        requested_by: who asked (the OS user), named in the resync run's closing event.
        lease_wait_seconds: how long the resync waits for the ``pull`` lease, seconds.
        on_progress: called with (done, total) after each complaint read by detail.

    Returns:
        What was found, stored, refused and not met. A resync run that failed mid-way is in
        ``resync.run`` with its error; what it stored up to then is in ``stored``.

    Raises:
        NationalPlatformError: the inbox walk failed (nothing was stored).
        LeaseBusy: another runner held the ``pull`` lease past ``lease_wait_seconds``.
    """
    days = [day for day in wanted.values() if day is not None]
    since = datetime.combine(min(days), time(0), WIB) if days else fallback_since
    with service.db.session() as session:
        known = set(
            session.exec(select(Case.complaint_id).where(Case.institution_id == service.mapping.institution.id))
        )
    search = search_inbox(service.puller.platform, wanted.keys(), since, known)
    ids = sorted(set(search.found.values()) | set(search.untracked))
    result = PullMissing(since, search, None)
    if ids:
        result.resync = run_resync(
            service,
            Selection(complaint_ids=tuple(ids)),
            requested_by=f"{requested_by} (reconcile-export --pull-missing)",
            lease_wait_seconds=lease_wait_seconds,
            on_progress=on_progress,
        )
    met: set[str] = set()
    tracking_of = {complaint_id: tracking_id for tracking_id, complaint_id in search.found.items()}
    for change in result.resync.changes if result.resync else ():
        tracking_id = change.tracking_id or tracking_of.get(change.complaint_id or 0)
        is_wanted = tracking_id in wanted
        if is_wanted and tracking_id:
            met.add(tracking_id)
        if change.outcome not in _STORED:
            result.refused.append(change)
        else:
            (result.stored if is_wanted else result.others).append(change)
    # Met by its inbox row, a complaint the resync did not read (it failed before) did not leave the inbox.
    result.not_met = [t for t in wanted if t not in met and t not in search.found]
    return result
