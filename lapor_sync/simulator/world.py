"""The simulated platform as one institution sees it: the contract's rules, moved by a clock.

A complaint is visible once its disposition time has come; scheduled events (reporter replies,
admin decisions, auto-close) are applied in time order, with their own timestamps, whenever the
world is used. Every instant stored is aware UTC in whole seconds (the platform's precision).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from lapor_sync.domain.clock import Clock, ManualClock
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator import rules
from lapor_sync.simulator.catalog import CITY_ID, INSTITUTIONS, PLACES, institution_tree
from lapor_sync.simulator.dataset import build_complaint
from lapor_sync.simulator.events import apply_event
from lapor_sync.simulator.masters import MasterData
from lapor_sync.simulator.model import Complaint, Counters, Event, EventKind, FollowUp, RejectRequest
from lapor_sync.simulator.rules import SimulatorError
from lapor_sync.simulator.store import FOLLOWUP_LOG, Store
from lapor_sync.simulator.workdays import WIB

P = ParamSpec("P")
R = TypeVar("R")
_TALLY_OF_STATUS = {1: "in_process", 2: "in_process", 3: "completed", 4: "archived", 5: "rejected"}


def _locked(method: Callable[Concatenate[World, P], R]) -> Callable[Concatenate[World, P], R]:
    """Run a public method under the world's lock, after applying the events that are due."""

    @functools.wraps(method)
    def wrapper(self: World, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            self._apply_events_until(self._now())
            return method(self, *args, **kwargs)

    return wrapper


class World:
    """The national platform's state and rules for one institution and its sub-units.

    Args:
        clock: where "now" comes from (``ManualClock`` for a simulated period, or ``SystemClock``).
        complaints: the complaints, visible or not yet.
        counters: the next ids to hand out.
        seed: seeds the reproducible reporter replies.
        dataset: the data set's name, kept for saving.
        institution_id: the caller's institution (its sub-units come with it).
        events: pending scheduled events (from a saved world).
        reply_rate: share of institution follow-ups that get a reporter reply.

    Attributes:
        lock: guards every read and write. Without it the server thread answering the sync client
            and the demo's direct calls would interleave: a page computed while an update has
            taken a complaint out of the inbox index but not yet put it back would miss it.
        before_inbox_page: test hook, called with the page number before each inbox page is
            computed (outside the lock), e.g. to ``touch`` a complaint and make the pages drift.
        after_followup_stored: test hook, called with each follow-up stored through
            :meth:`add_followup` once it and its effects are stored, under the lock and before the
            answer goes back: the chaos soak kills the posting worker there, between a national
            write and the worker's local commit.
    """

    def __init__(
        self,
        clock: Clock,
        complaints: Iterable[Complaint],
        counters: Counters,
        *,
        seed: int = 2024,
        dataset: str = "",
        institution_id: int = CITY_ID,
        events: Iterable[Event] = (),
        reply_rate: float = 0.10,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.dataset = dataset
        self.institution_id = institution_id
        self.reply_rate = reply_rate
        self.lock = threading.RLock()
        self.before_inbox_page: Callable[[int], None] | None = None
        self.after_followup_stored: Callable[[FollowUp], None] | None = None
        self._tree = institution_tree(institution_id)
        self._store = Store(complaints, counters, self._tree, events)
        self.masters = MasterData()  # not saved with the world: a world served again starts from the seed

    @property
    def counters(self) -> Counters:
        """The next ids to hand out (for saving)."""
        return self._store.counters

    # -- time ----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _apply_events_until(self, instant: datetime) -> None:
        while (event := self._store.pop_due(instant)) is not None:
            apply_event(self._store, event, seed=self.seed, reply_rate=self.reply_rate)

    def advance_to(self, instant: datetime) -> None:
        """Move a ``ManualClock`` to ``instant`` (aware), applying due events at their own times.

        Raises:
            TypeError: when the clock cannot be set (``SystemClock``).
            ValueError: when ``instant`` is naive or earlier than now.
        """
        if not isinstance(self.clock, ManualClock):
            raise TypeError("only a ManualClock can be moved")
        with self.lock:
            if instant.tzinfo is None or instant < self.clock.now():
                raise ValueError("the clock moves forward only, to an aware instant")
            self._apply_events_until(instant)
            self.clock.set(instant)

    @_locked
    def pending_events(self) -> list[Event]:
        """Return the scheduled events not yet applied, in time order."""
        return self._store.pending_events()

    # -- reads ---------------------------------------------------------------------------------

    @_locked
    def all_complaints(self) -> list[Complaint]:
        """Return every complaint, not-yet-visible ones included, in complaint id order."""
        return self._store.all()

    @_locked
    def complaint(self, complaint_id: int) -> Complaint:
        """Return a visible complaint that is or was dispositioned to the caller's tree.

        Raises:
            SimulatorError: 404 when unknown or not yet dispositioned; 403 when never the caller's.
        """
        found = self._store.get(complaint_id)
        if found is None or found.dispositioned_at > self._now():
            raise SimulatorError(404, f"Complaint {complaint_id} not found.")
        if found.first_disposition_id not in self._tree and found.disposition_id not in self._tree:
            raise SimulatorError(403, f"Complaint {complaint_id} is not dispositioned to your institution.")
        return found

    def inbox_page(self, updated_since: datetime | None, page: int, per_page: int) -> tuple[list[Complaint], int]:
        """Return one inbox page and the total over all pages (CONTRACT §5, ``/complaints/inbox``).

        Complaints currently dispositioned to the caller's tree with ``updated_at >= updated_since``
        (inclusive), ordered by ``updated_at`` then ``complaint_id``; computed fresh, so the pages
        drift when complaints change between two calls. ``page`` is 1-based.
        """
        if self.before_inbox_page is not None:
            self.before_inbox_page(page)
        with self.lock:
            self._apply_events_until(self._now())
            return self._store.inbox_page(updated_since, self._now(), page, per_page)

    @_locked
    def inbox_ids(self, updated_since: datetime | None, limit: int) -> list[int]:
        """Return the ids of the first ``limit`` inbox complaints, in inbox order (for page drift)."""
        items, _ = self._store.inbox_page(updated_since, self._now(), 1, limit) if limit > 0 else ([], 0)
        return [c.complaint_id for c in items]

    @_locked
    def followups_page(self, complaint_id: int, page: int, per_page: int = 20) -> tuple[list[FollowUp], int]:
        """Return one page of a complaint's thread, deliberately unsorted (CONTRACT §5), and its total."""
        thread = sorted(self.complaint(complaint_id).followups, key=lambda f: rules.scrambled(f.id))
        return thread[(page - 1) * per_page : page * per_page], len(thread)

    @_locked
    def tallies(self, start: date, end: date) -> dict[str, int]:
        """Count the complaints dispositioned to the caller's tree between two WIB dates (inclusive).

        Returns:
            ``total``, ``completed`` (Selesai), ``in_process`` (Terverifikasi or Dalam Proses),
            ``archived`` (Diarsipkan), ``forwarded`` (now dispositioned outside the tree),
            ``rejected`` (Ditolak) and ``archived_or_returned`` (archived + forwarded), as of now.
        """
        counts = dict.fromkeys(("total", "completed", "in_process", "archived", "forwarded", "rejected"), 0)
        now = self._now()
        for c in self._store.all():
            in_period = start <= c.dispositioned_at.astimezone(WIB).date() <= end
            if c.first_disposition_id not in self._tree or c.dispositioned_at > now or not in_period:
                continue
            counts["total"] += 1
            key = "forwarded" if c.disposition_id not in self._tree else _TALLY_OF_STATUS.get(c.status_code)
            if key:
                counts[key] += 1
        return {**counts, "archived_or_returned": counts["archived"] + counts["forwarded"]}

    @_locked
    def handled(self, first: date, last: date) -> list[tuple[Complaint, bool]]:
        """The complaints the caller's tree has had, created between two WIB dates (inclusive), as of now.

        What the admin panel's export of the period lists (CONTRACT §7 G11): every visible complaint
        dispositioned to the tree at some point, in complaint id order, each with whether it is still
        dispositioned there (``False``: forwarded away).
        """
        now = self._now()
        return [
            (c, c.disposition_id in self._tree)
            for c in self._store.all()
            if (c.first_disposition_id in self._tree or c.disposition_id in self._tree)
            and c.dispositioned_at <= now
            and first <= c.created_at.astimezone(WIB).date() <= last
        ]

    # -- writes through the API (CONTRACT §5) ----------------------------------------------------

    def _writable(self, complaint_id: int) -> Complaint:
        found = self.complaint(complaint_id)
        if found.disposition_id not in self._tree:
            raise SimulatorError(403, f"Complaint {complaint_id} is no longer dispositioned to your institution.")
        rules.check_writable(found.status_code)
        return found

    @_locked
    def add_followup(
        self,
        complaint_id: int,
        institution_from_id: int,
        content: str,
        *,
        institution_to_id: int | None = None,
        rating: int = 0,
        is_secret: bool = False,
        attachment_names: Iterable[str] = (),
    ) -> FollowUp:
        """Store an institution follow-up at now, normalised; never deduplicated (CONTRACT §4, §5).

        Moves Terverifikasi to Dalam Proses, may plan a reporter reply, and starts the auto-close
        timer (CONTRACT §3).

        Raises:
            SimulatorError: 404/403 as for reads, 403 when ``institution_from_id`` is not in the
                caller's tree, 422 on a final complaint or empty content.
        """
        c = self._writable(complaint_id)
        if institution_from_id not in self._tree:
            raise SimulatorError(403, "institution_from_id is not your institution.")
        text = rules.normalise_content(content)
        if not text:
            raise SimulatorError(422, "The given data was invalid.", {"content": ["The content field is required."]})
        now, store = self._now(), self._store
        followup = store.add_followup(
            c,
            user_type="instansi",
            institution_from_id=institution_from_id,
            content=text,
            rating=rating,
            is_secret=is_secret,
            at=now,
            attachment_names=attachment_names,
        )
        store.log(c, FOLLOWUP_LOG, institution_from_id, institution_to_id, now)
        if c.status_code == NationalStatus.VERIFIED:
            store.change_status(
                c, NationalStatus.IN_PROCESS, "Laporan sedang ditindaklanjuti", institution_from_id, now
            )
        store.touch(c, now)
        number = sum(f.user_type == "instansi" for f in c.followups)
        reply = rules.plan_reporter_reply(self.seed, complaint_id, number, self.reply_rate)
        if reply is not None:
            store.schedule(now + reply.delay, EventKind.REPORTER_REPLY, complaint_id, number)
        store.schedule(rules.auto_close_at(now), EventKind.AUTO_CLOSE, complaint_id, followup.id)
        if self.after_followup_stored is not None:
            self.after_followup_stored(followup)
        return followup

    @_locked
    def set_status(self, complaint_id: int, status_code: int, note: str | None) -> Complaint:
        """Apply an institution's status request (CONTRACT §5, ``/process/{id}/status``).

        Raises:
            SimulatorError: 404/403 as for reads; 422 on a final complaint or a transition that
                :func:`rules.check_transition` refuses.
        """
        c = self._writable(complaint_id)
        has_followup = any(f.user_type == "instansi" for f in c.followups)
        rules.check_transition(c.status_code, status_code, has_institution_followup=has_followup)
        now = self._now()
        self._store.change_status(c, status_code, note, c.disposition_id, now)
        self._store.touch(c, now)
        return c

    @_locked
    def request_reject(
        self, complaint_id: int, *, not_authority: bool, target_institution_id: int, description: str
    ) -> RejectRequest:
        """Record a reject request for the admin; it replaces any earlier one (CONTRACT §5).

        The admin decides at :func:`rules.admin_decision_at`: archive (``not_authority`` False) or
        forward to ``target_institution_id``. Nothing visible changes until then.

        Raises:
            SimulatorError: 404/403 as for reads; 422 on a final complaint, an unknown or current
                target institution, or an empty description.
        """
        c = self._writable(complaint_id)
        if not description.strip():
            errors = {"reason_description": ["The reason description is required."]}
            raise SimulatorError(422, "The given data was invalid.", errors)
        if not_authority and (target_institution_id not in INSTITUTIONS or target_institution_id == c.disposition_id):
            raise SimulatorError(422, "The given data was invalid.", {"reason": ["Choose another known institution."]})
        now = self._now()
        request = RejectRequest(
            self.counters.take("request_id"), not_authority, target_institution_id, description.strip(), now
        )
        c.pending_request = request
        self._store.schedule(rules.admin_decision_at(now), EventKind.ADMIN_DECISION, complaint_id, request.id)
        return request

    # -- test hooks ------------------------------------------------------------------------------

    @_locked
    def add_complaint(self, **fields: Any) -> Complaint:
        """Insert a new complaint (test hook); keyword arguments override the defaults.

        Defaults: dispositioned now to the caller's institution, category "Topik Lainnya" (43),
        created one hour earlier, first place of the catalog. Accepts the keyword arguments of
        :func:`lapor_sync.simulator.dataset.build_complaint`.
        """
        now = self._now()
        defaults: dict[str, Any] = {
            "dispositioned_at": now,
            "disposition_id": self.institution_id,
            "category_id": 43,
            "title": "Laporan uji",
            "content": "Isi laporan uji.",
            "place": PLACES[0],
        }
        merged = {**defaults, **fields}
        merged.setdefault("created_at", merged["dispositioned_at"] - timedelta(hours=1))
        complaint = build_complaint(self.counters, **merged)
        self._store.insert(complaint)
        return complaint

    @_locked
    def touch(self, complaint_id: int, at: datetime | None = None) -> None:
        """Change a complaint's ``updated_at`` to ``at`` (default now) and nothing else (test hook).

        Raises:
            KeyError: unknown complaint.
            ValueError: ``at`` before the complaint's disposition.
        """
        c = self._store.get(complaint_id)
        if c is None:
            raise KeyError(complaint_id)
        instant = (at or self._now()).replace(microsecond=0)
        if instant < c.dispositioned_at:
            raise ValueError("a complaint cannot change before its disposition")
        self._store.touch(c, instant)
