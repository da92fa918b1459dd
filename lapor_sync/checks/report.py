"""The invariant checker's verdict: counts of both sides, and one finding per kind of discrepancy, in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    """What one kind of finding means.

    Attributes:
        invariant: the invariant it belongs to (1-6, see :mod:`lapor_sync.checks.invariants`).
        ids: what its example ids are ("complaint", "outbox row", ...).
        words: the discrepancy, in words an IT officer understands.
        violation: whether a non-zero count breaks the invariant (``False``: listed for information).
    """

    invariant: int
    ids: str
    words: str
    violation: bool = True


KINDS: dict[str, Kind] = {
    "complaint_lost": Kind(1, "complaint", "dispositioned to the city on LAPOR! but no case here and not set aside"),
    "complaint_set_aside": Kind(
        1, "complaint", "dispositioned to the city, no case here, but listed as set aside with a reason", False
    ),
    "complaint_duplicated": Kind(1, "complaint", "more than one case or binding for one complaint"),
    "case_unbound": Kind(1, "complaint", "case without a binding, or whose binding points at another case"),
    "case_unknown": Kind(1, "complaint", "case of a complaint LAPOR! does not show as dispositioned to the city"),
    "status_stale": Kind(2, "complaint", "case's national status differs from the status on LAPOR!"),
    "thread_missing": Kind(2, "complaint", "thread entry on LAPOR! missing from the case's thread"),
    "thread_duplicated": Kind(2, "complaint", "extra copies, in the case's thread, of a LAPOR! thread entry"),
    "thread_extra": Kind(2, "complaint", "entry in the case's thread with a national id LAPOR! does not show"),
    "thread_unlinked": Kind(
        2, "complaint", "own follow-up on LAPOR! whose entry in the case's thread is not linked to it"
    ),
    "followup_lost": Kind(3, "outbox row", "delivered follow-up whose reference token no follow-up on LAPOR! carries"),
    "followup_duplicated": Kind(3, "outbox row", "extra copies on LAPOR! of one follow-up (same reference token)"),
    "followup_unknown": Kind(
        3, "national follow-up", "follow-up by the city on LAPOR! with a reference token no outbox row of it has"
    ),
    "followup_out_of_order": Kind(3, "complaint", "follow-ups on LAPOR! in another order than in the outbox"),
    "followup_arrived_undelivered": Kind(
        3, "outbox row", "dead or cancelled follow-up that is on LAPOR! all the same", False
    ),
    "status_change_missing": Kind(3, "outbox row", "delivered completion, return or forward not in effect on LAPOR!"),
    "status_change_awaiting_admin": Kind(
        3, "outbox row", "delivered return or forward request still waiting for LAPOR!'s admin", False
    ),
    "outbox_not_delivered": Kind(4, "outbox row", "outbox row still pending or sending (not yet delivered)"),
    "outbox_dead_without_reason": Kind(4, "outbox row", "dead letter without a reason (empty last error)"),
    "outbox_cancelled_without_reason": Kind(4, "outbox row", "cancelled row without a reason (empty last error)"),
    "outbox_unknown_state": Kind(4, "outbox row", "outbox row in a state lapor-sync does not know"),
    "set_aside_unresolved": Kind(5, "set-aside record", "set-aside record not resolved yet (see its reason)", False),
    "set_aside_without_reason": Kind(5, "set-aside record", "set-aside record without a reason"),
    "cursor_passed_unstored": Kind(
        6,
        "complaint",
        "inbox complaint older than the cursor minus the overlap, neither stored at its latest "
        "update nor set aside: no later pull will read it",
    ),
}
LOST = ("complaint_lost", "thread_missing", "followup_lost", "status_change_missing")
DUPLICATED = ("complaint_duplicated", "thread_duplicated", "followup_duplicated", "followup_unknown")


@dataclass(frozen=True, slots=True)
class Finding:
    """How often one kind of discrepancy occurred, with a few example ids (see :data:`KINDS`)."""

    key: str
    count: int
    examples: tuple[int, ...]
    violation: bool

    @property
    def kind(self) -> Kind:
        """What this finding means."""
        return KINDS[self.key]

    def sentence(self) -> str:
        """The finding in one line, e.g. ``"[1] complaint_lost: 2 ... (complaint 3100001, 3100002)"``."""
        shown = f" ({self.kind.ids} {', '.join(map(str, self.examples))})" if self.examples else ""
        return f"[{self.kind.invariant}] {self.key}: {self.count} {self.kind.words}{shown}"


@dataclass(frozen=True, slots=True)
class UnresolvedSetAside:
    """A set-aside record still open: which complaint (``None``: id unreadable), why, since when (UTC)."""

    id: int
    complaint_id: int | None
    reason: str
    first_seen_at: datetime


@dataclass(frozen=True)
class InvariantReport:
    """What :func:`~lapor_sync.checks.invariants.check_invariants` found.

    Attributes:
        final: whether undelivered outbox rows count as violations (a check after a final sync).
        complaints_national: complaints dispositioned to the city, visible on LAPOR! now.
        complaints_city: the city's cases.
        followups_expected: delivered follow-up rows, each of which must be on LAPOR! exactly once.
        followups_found: of those, how many are on LAPOR! (at least once).
        status_changes_expected: delivered completion, return and forward rows.
        outbox_by_state: outbox rows per state.
        set_aside: set-aside records, resolved or not.
        unresolved_set_aside: the open ones, each with its reason.
        cursor: the committed inbox cursor (aware UTC), ``None`` before the first pull.
        findings: one per key of :data:`KINDS`, zero counts included, in that order.
    """

    final: bool
    complaints_national: int
    complaints_city: int
    followups_expected: int
    followups_found: int
    status_changes_expected: int
    outbox_by_state: dict[str, int]
    set_aside: int
    unresolved_set_aside: tuple[UnresolvedSetAside, ...]
    cursor: datetime | None
    findings: tuple[Finding, ...] = field(default=())

    def count(self, key: str) -> int:
        """How often the discrepancy ``key`` (a key of :data:`KINDS`) occurred.

        Raises:
            KeyError: an unknown key.
        """
        KINDS[key]  # noqa: B018 - refuse a misspelt key instead of answering 0
        return sum(f.count for f in self.findings if f.key == key)

    @property
    def violations(self) -> list[Finding]:
        """The findings that break an invariant."""
        return [f for f in self.findings if f.violation and f.count]

    @property
    def ok(self) -> bool:
        """True when every invariant holds."""
        return not self.violations

    @property
    def lost(self) -> int:
        """Everything lost: complaints, thread entries, follow-ups and status changes."""
        return sum(self.count(key) for key in LOST)

    @property
    def duplicated(self) -> int:
        """Everything duplicated: cases, thread entries, follow-ups (known or unknown tokens)."""
        return sum(self.count(key) for key in DUPLICATED)

    def as_dict(self) -> dict[str, Any]:
        """The report for ``--json`` (instants aware UTC); ids, counts and reasons only."""
        return {
            "ok": self.ok,
            "final": self.final,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "complaints": {"national": self.complaints_national, "city": self.complaints_city},
            "followups": {"expected": self.followups_expected, "found": self.followups_found},
            "status_changes_expected": self.status_changes_expected,
            "outbox_by_state": self.outbox_by_state,
            "set_aside": self.set_aside,
            "cursor": self.cursor,
            "unresolved_set_aside": [
                {"id": r.id, "complaint_id": r.complaint_id, "reason": r.reason, "first_seen_at": r.first_seen_at}
                for r in self.unresolved_set_aside
            ],
            "findings": [
                {
                    "key": f.key,
                    "invariant": f.kind.invariant,
                    "count": f.count,
                    "violation": f.violation,
                    "description": f.kind.words,
                    "example_ids": f.kind.ids,
                    "examples": list(f.examples),
                }
                for f in self.findings
            ],
        }

    def summary(self) -> str:
        """One line of the main counts, e.g. for a soak's closing print."""
        states = ", ".join(f"{state} {n}" for state, n in sorted(self.outbox_by_state.items())) or "empty"
        return (
            f"complaints national {self.complaints_national}, city {self.complaints_city}; follow-ups "
            f"expected {self.followups_expected}, found {self.followups_found}; lost {self.lost}, "
            f"duplicated {self.duplicated}; outbox: {states}; set aside {self.set_aside} "
            f"({len(self.unresolved_set_aside)} unresolved); {'OK' if self.ok else 'VIOLATED'}"
        )
