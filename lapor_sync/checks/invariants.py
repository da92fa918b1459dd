"""The invariant checker: compares the simulator's state with the city's records and the outbox.

The promise to a city, made measurable; each invariant's discrepancies are the keys of
:data:`lapor_sync.checks.report.KINDS` with that number:

1. Every complaint dispositioned to the city (visible now, first or current disposition in the
   city's tree) has exactly one case and one binding, unless it is set aside with a reason.
2. Each case carries its complaint's latest national status, and its thread holds every national
   thread entry exactly once (by national id; our own follow-ups linked by reference), none extra.
3. Every delivered agency follow-up is on LAPOR! exactly once (by its reference token, CONTRACT §6),
   in outbox order per complaint; no follow-up of the city carries a token the outbox does not
   know; every delivered completion, return and forward is in effect (CONTRACT §5).
4. Every outbox row is delivered, dead-lettered with a reason or cancelled with a reason.
5. Every set-aside record has a reason; the unresolved ones are listed.
6. The cursor has not passed anything unstored: no inbox complaint older than the cursor minus
   the overlap (the next walk's inclusive start, CONTRACT §6) is unstored at its latest update.

Meant to run after a final full sync (pull and push) with the clock standing still: anything that
changed on either side after that sync shows up as a discrepancy.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from lapor_sync.checks.report import KINDS, Finding, InvariantReport, UnresolvedSetAside
from lapor_sync.checks.sides import CitySide, NationalComplaint, read_city, read_national
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.outbox import WAITING, OutboxState
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.server import Simulator
from lapor_sync.simulator.world import World
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case, OutboxItem, ThreadEntry

OUTBOX_STATES = tuple(OutboxState)
_OPEN = (NationalStatus.VERIFIED, NationalStatus.IN_PROCESS)


class _Tally:
    """Counts per finding key, with up to ``limit`` distinct example ids each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[int]] = defaultdict(list)

    def note(self, key: str, example: int | None, n: int = 1) -> None:
        KINDS[key]  # noqa: B018 - a misspelt key must fail here, not vanish from the report
        self.counts[key] += n
        shown = self.examples[key]
        if example is not None and len(shown) < self.limit and example not in shown:
            shown.append(example)

    def findings(self, final: bool) -> tuple[Finding, ...]:
        return tuple(
            Finding(
                key,
                self.counts[key],
                tuple(self.examples[key]),
                kind.violation and (final or key != "outbox_not_delivered"),
            )
            for key, kind in KINDS.items()
        )


def check_invariants(
    simulator_or_world: Simulator | World,
    db: Database,
    institution_id: int,
    *,
    overlap: timedelta,
    final: bool = True,
    examples: int = 5,
) -> InvariantReport:
    """Compare the national state with the city's records, outbox, set-aside records and cursor.

    Args:
        simulator_or_world: the simulated platform (a loaded state file works: ``Simulator.load``).
        db: the city's database (migrated).
        institution_id: the city's national institution (6271 for Palangka Raya).
        overlap: the pull's overlap window (setting ``overlap_seconds``), for invariant 6.
        final: count pending and sending outbox rows as violations (a check after a final sync);
            ``False`` lists them without failing.
        examples: how many example ids each finding keeps.

    Returns:
        The report; ``report.ok`` tells whether every invariant holds.
    """
    world = simulator_or_world.world if isinstance(simulator_or_world, Simulator) else simulator_or_world
    national = read_national(world, institution_id)
    city = read_city(db, institution_id)
    tally = _Tally(examples)
    excused = {r.complaint_id for r in city.set_aside if r.resolved_at is None and r.complaint_id is not None}
    cases = _check_complaints(national, city, excused, tally)
    _check_cases(national, cases, city.thread, excused, tally)
    expected, found = _check_followups(national, city.outbox, tally)
    status_changes = _check_status_changes(national, city.outbox, institution_id, tally)
    _check_outbox(city.outbox, tally)
    unresolved = _check_set_aside(city, tally)
    _check_cursor(national, city, overlap, excused, tally)
    return InvariantReport(
        final=final,
        complaints_national=len(national),
        complaints_city=len(city.cases),
        followups_expected=expected,
        followups_found=found,
        status_changes_expected=status_changes,
        outbox_by_state=dict(Counter(item.state for item in city.outbox)),
        set_aside=len(city.set_aside),
        unresolved_set_aside=unresolved,
        cursor=city.cursor,
        findings=tally.findings(final),
    )


def _check_complaints(
    national: dict[int, NationalComplaint], city: CitySide, excused: set[int], tally: _Tally
) -> dict[int, Case]:
    """Invariant 1; returns the case of each national complaint that has exactly one, bound to it."""
    cases: dict[int, list[Case]] = defaultdict(list)
    for case in city.cases:
        cases[case.complaint_id].append(case)
    bindings = Counter(b.complaint_id for b in city.bindings)
    bound = {(b.complaint_id, b.case_id) for b in city.bindings}
    single = {}
    for complaint_id in national:
        found = cases.get(complaint_id, [])
        if not found:
            tally.note("complaint_set_aside" if complaint_id in excused else "complaint_lost", complaint_id)
        elif len(found) > 1 or bindings[complaint_id] > 1:
            tally.note("complaint_duplicated", complaint_id)
        elif (complaint_id, found[0].id) not in bound:
            tally.note("case_unbound", complaint_id)
        else:
            single[complaint_id] = found[0]
    for complaint_id in cases.keys() - national.keys():
        tally.note("case_unknown", complaint_id)
    return single


def _check_cases(
    national: dict[int, NationalComplaint],
    cases: dict[int, Case],
    thread: list[ThreadEntry],
    excused: set[int],
    tally: _Tally,
) -> None:
    """Invariant 2: status and thread of each case; a complaint still set aside is excused."""
    entries: dict[int, list[ThreadEntry]] = defaultdict(list)
    for entry in thread:
        entries[entry.case_id].append(entry)
    for complaint_id, case in cases.items():
        if complaint_id in excused:
            continue
        complaint = national[complaint_id]
        if case.national_status_code != complaint.status_code:
            tally.note("status_stale", complaint_id)
        stored = entries[case.id] if case.id is not None else []
        by_national_id = Counter(e.national_id for e in stored if e.national_id is not None)
        # An agency entry not yet linked still counts once for the national follow-up with its token.
        unlinked = Counter(
            e.reference for e in stored if e.national_id is None and e.origin == "agency" and e.reference
        )
        for followup in complaint.followups:
            linked = by_national_id[followup.national_id]
            waiting = unlinked[followup.reference] if followup.reference else 0
            if waiting and not linked:
                tally.note("thread_unlinked", complaint_id)
            if linked + waiting == 0:
                tally.note("thread_missing", complaint_id)
            elif linked + waiting > 1:
                tally.note("thread_duplicated", complaint_id, linked + waiting - 1)
        known = {f.national_id for f in complaint.followups}
        if extra := sum(n for national_id, n in by_national_id.items() if national_id not in known):
            tally.note("thread_extra", complaint_id, extra)


def _check_followups(
    national: dict[int, NationalComplaint], outbox: list[OutboxItem], tally: _Tally
) -> tuple[int, int]:
    """Invariant 3, follow-ups: each by its token (CONTRACT §6). Returns (expected, found)."""
    on_lapor = _followups_on_lapor(national)
    rows = [item for item in outbox if item.kind == AgencyAction.FOLLOWUP.value]
    expected, found = _check_followup_rows(rows, on_lapor, tally)
    _check_unknown_followups(national, on_lapor, rows, tally)
    _check_followup_order(rows, on_lapor, tally)
    return expected, found


def _followups_on_lapor(national: dict[int, NationalComplaint]) -> dict[tuple[int, str], list[int]]:
    """Map (complaint, reference token) to the thread positions of the national follow-ups carrying it."""
    on_lapor: dict[tuple[int, str], list[int]] = defaultdict(list)
    for complaint in national.values():
        for position, followup in enumerate(complaint.followups):
            if followup.reference:
                on_lapor[complaint.complaint_id, followup.reference].append(position)
    return on_lapor


def _check_followup_rows(
    rows: list[OutboxItem], on_lapor: dict[tuple[int, str], list[int]], tally: _Tally
) -> tuple[int, int]:
    """Each follow-up row is on LAPOR! at most once: a delivered one there, a dead or cancelled one not.

    Returns:
        (expected, found): the delivered rows, and how many of them are on LAPOR!.
    """
    expected = found = 0
    for item in rows:
        positions = on_lapor.get((item.complaint_id, item.idempotency_key), [])
        if len(positions) > 1:
            tally.note("followup_duplicated", item.id, len(positions) - 1)
        if item.state == OutboxState.DELIVERED:
            expected += 1
            found += bool(positions)
            if not positions:
                tally.note("followup_lost", item.id)
        elif positions and item.state in (OutboxState.DEAD, OutboxState.CANCELLED):
            tally.note("followup_arrived_undelivered", item.id)
    return expected, found


def _check_unknown_followups(
    national: dict[int, NationalComplaint],
    on_lapor: dict[tuple[int, str], list[int]],
    rows: list[OutboxItem],
    tally: _Tally,
) -> None:
    """No follow-up on LAPOR! carries a token the outbox's follow-up rows do not know; noted by national id."""
    known = {(item.complaint_id, item.idempotency_key) for item in rows}
    for (complaint_id, reference), positions in on_lapor.items():
        if (complaint_id, reference) not in known:
            for position in positions:
                tally.note("followup_unknown", national[complaint_id].followups[position].national_id)


def _check_followup_order(rows: list[OutboxItem], on_lapor: dict[tuple[int, str], list[int]], tally: _Tally) -> None:
    """The follow-ups of each complaint stand on LAPOR! in outbox order (each by its first position)."""
    arrived: dict[int, list[tuple[int, int]]] = defaultdict(list)  # complaint -> (outbox id, first position)
    for item in rows:
        if positions := on_lapor.get((item.complaint_id, item.idempotency_key)):
            arrived[item.complaint_id].append((item.id, positions[0]))
    for complaint_id, order in arrived.items():
        if [position for _, position in sorted(order)] != sorted(position for _, position in order):
            tally.note("followup_out_of_order", complaint_id)


def _check_status_changes(
    national: dict[int, NationalComplaint], outbox: list[OutboxItem], institution_id: int, tally: _Tally
) -> int:
    """Invariant 3, status changes: each delivered one in effect on LAPOR! (CONTRACT §5). Returns how many."""
    expected = 0
    for item in outbox:
        if item.kind == AgencyAction.FOLLOWUP.value or item.state != OutboxState.DELIVERED:
            continue
        expected += 1
        complaint = national.get(item.complaint_id)
        if complaint is None:
            tally.note("status_change_missing", item.id)
        elif item.kind == AgencyAction.COMPLETE.value:
            if complaint.status_code != NationalStatus.COMPLETED:
                tally.note("status_change_missing", item.id)
        elif complaint.request_waiting:
            tally.note("status_change_awaiting_admin", item.id)
        # A return archives, a forward moves the complaint out; a complaint closed before the admin
        # looked keeps its final status (the admin has nothing left to do), so only an open one
        # still in the city's inbox shows a request that came to nothing.
        elif complaint.status_code in _OPEN and (item.kind == AgencyAction.RETURN.value or complaint.in_inbox):
            tally.note("status_change_missing", item.id)
    return expected


def _check_outbox(outbox: list[OutboxItem], tally: _Tally) -> None:
    """Invariant 4: delivered, or dead or cancelled with a reason; pending and sending rows are not yet delivered."""
    for item in outbox:
        reason = (item.last_error or "").strip()
        if item.state in WAITING:
            tally.note("outbox_not_delivered", item.id)
        elif item.state == OutboxState.DEAD and not reason:
            tally.note("outbox_dead_without_reason", item.id)
        elif item.state == OutboxState.CANCELLED and not reason:
            tally.note("outbox_cancelled_without_reason", item.id)
        elif item.state not in OUTBOX_STATES:
            tally.note("outbox_unknown_state", item.id)


def _check_set_aside(city: CitySide, tally: _Tally) -> tuple[UnresolvedSetAside, ...]:
    """Invariant 5: every set-aside record has a reason; returns the unresolved ones, oldest first."""
    unresolved = []
    for record in sorted(city.set_aside, key=lambda r: (r.first_seen_at, r.id)):
        if not record.reason.strip():
            tally.note("set_aside_without_reason", record.id)
        if record.resolved_at is None:
            tally.note("set_aside_unresolved", record.id)
            unresolved.append(
                UnresolvedSetAside(record.id or 0, record.complaint_id, record.reason, record.first_seen_at)
            )
    return tuple(unresolved)


def _check_cursor(
    national: dict[int, NationalComplaint], city: CitySide, overlap: timedelta, excused: set[int], tally: _Tally
) -> None:
    """Invariant 6: nothing the next walk skips (``updated_at`` before cursor minus overlap) is unstored.

    The walk's start is inclusive (CONTRACT §5), so a complaint exactly at cursor minus overlap is
    read again and is no violation.
    """
    if city.cursor is None:
        return
    start = city.cursor - overlap
    stored = {b.complaint_id: b.national_updated_at for b in city.bindings}
    for complaint in national.values():
        if not complaint.in_inbox or complaint.updated_at >= start or complaint.complaint_id in excused:
            continue
        at = stored.get(complaint.complaint_id)
        if at is None or at < complaint.updated_at:
            tally.note("cursor_passed_unstored", complaint.complaint_id)
