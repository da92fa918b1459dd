"""Tables of the city's records and of the sync state (sqlmodel).

The schema itself is owned by the alembic migrations in ``migrations/``; these classes must match
them (a test compares the two). Every datetime column is :class:`UTCDateTime`: aware, UTC.
Rows carry the national ``institution_id`` they belong to, so one database can serve several
institutions.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from lapor_sync.domain.runs import RunOutcome
from lapor_sync.storage.types import UTCDateTime

PURGED_TEXT = "(dihapus)"
"""What a purged text column holds instead of the complaint's or the thread's words ("deleted").

NOT NULL text columns keep this marker rather than an empty string, so a reader of a purged case
sees that its text was removed on purpose (``Case.purged_at`` says when), not lost.
"""


def _utc(**kwargs: object) -> object:
    return Field(sa_type=UTCDateTime, **kwargs)  # type: ignore[call-overload]


class Agency(SQLModel, table=True):
    """One of the city's agencies (OPD), loaded from the mapping file."""

    __tablename__ = "agency"

    code: str = Field(primary_key=True, max_length=32)
    name: str
    abbreviation: str | None = None
    national_institution_id: int | None = Field(default=None, index=True)


class Case(SQLModel, table=True):
    """The city's record of one complaint assigned to one agency.

    Reporter fields stay NULL for anonymous complaints (CONTRACT §4: ``user`` is null when
    ``is_anonymous`` = 1; lapor-sync does not keep what it should not have). ``content_length`` is
    the content's length as received, in characters; it exceeds ``len(content)`` when NUL
    characters or lone surrogates had to be removed to store it.

    ``purged_at`` (UTC) is set by ``lapor-sync purge`` (:mod:`lapor_sync.sync.admin.purge`) once the case
    had been closed longer than the retention period (UU 27/2022: personal data kept no longer than
    needed): reporter fields and ``location_name`` are then NULL, ``title`` and ``content`` hold
    :data:`PURGED_TEXT` with ``content_length`` 0, and so do the case's thread entries. Ids, agency,
    category, states, status and dates stay, so tallies and service levels still count it. A purged
    case stays purged while it is closed; if LAPOR! reopens the complaint, its content is stored
    again and ``purged_at`` goes back to NULL (see :mod:`lapor_sync.adapters.city.builtin`).
    """

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("institution_id", "complaint_id", name="uq_case_complaint"),
        # The console's listings (migration 0013): a filter, then id for the newest-first keyset.
        Index("ix_case_agency", "institution_id", "agency_code", "id"),
        Index("ix_case_state_id", "institution_id", "state", "id"),
        Index("ix_case_received", "institution_id", "received_at"),
        Index("ix_case_closed", "institution_id", "closed_at"),
        # Counting open cases' deadlines reads this index alone, in its order (migration 0016).
        Index("ix_case_open_sla", "institution_id", "state", "agency_code", "dispositioned_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(index=True)
    complaint_id: int
    tracking_id: str = Field(index=True, max_length=32)
    agency_code: str = Field(foreign_key="agency.code", index=True, max_length=32)
    routing_rule: str
    state: str = Field(index=True, max_length=16)
    title: str = Field(sa_column=Column(Text, nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_length: int
    classification_name: str | None = None
    category_id: int | None = None
    category_name: str | None = None
    national_status_code: int
    national_status_name: str
    disposition_id: int | None = None
    disposition_name: str | None = None
    is_anonymous: bool
    is_secret: bool
    is_priority: bool
    channel_name: str | None = None
    location_name: str | None = None
    date_of_incident: date | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_phone: str | None = None
    complaint_created_at: datetime = _utc()
    dispositioned_at: datetime = _utc(index=True)
    received_at: datetime = _utc()
    closed_at: datetime | None = _utc(default=None)
    purged_at: datetime | None = _utc(default=None)


class CaseOverride(SQLModel, table=True):
    """An admin's reassignment of one case to an agency, kept until cleared (``lapor-sync case reassign``).

    While the row exists every pull and resync routes the case to ``agency_code`` whatever the
    mapping says (:meth:`lapor_sync.domain.routing.CityMapping.route`); clearing deletes it, and
    the sync events ``case.reassigned`` and ``case.reassign_cleared`` keep the history. ``set_at``
    is UTC; ``reason`` is masked of personal data.
    """

    __tablename__ = "case_override"

    case_id: int = Field(foreign_key="case.id", primary_key=True)
    agency_code: str = Field(foreign_key="agency.code", max_length=32)
    set_by: str = Field(max_length=64)
    set_at: datetime = _utc()
    reason: str = Field(sa_column=Column(Text, nullable=False))


class ThreadEntry(SQLModel, table=True):
    """One message in a case's thread: a national follow-up or reply, or an agency follow-up.

    ``origin`` is ``national`` for what came from SP4N-LAPOR! (never pushed back) and ``agency`` for
    what the city's staff wrote here (pushed through the outbox). ``reference`` is the token that
    lets an agency follow-up be recognised when it comes back from the national side.
    ``content_length`` is the content's length as received or written, in characters; it exceeds
    ``len(content)`` when NUL characters or lone surrogates had to be removed to store it. In a
    purged case (``Case.purged_at``) ``content`` is :data:`PURGED_TEXT` and ``content_length`` 0.
    """

    __tablename__ = "thread_entry"
    __table_args__ = (
        UniqueConstraint("case_id", "national_id", name="uq_thread_national"),
        # A case's thread, and all the deadlines' count reads of it, from the index alone (migration 0016).
        Index("ix_thread_entry_sla", "case_id", "created_at", "origin", "author_type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    origin: str = Field(max_length=16)
    author_type: str = Field(max_length=16)
    national_id: int | None = None
    institution_id: int | None = None
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_length: int
    rating: int = 0
    is_secret: bool = False
    reference: str | None = Field(default=None, index=True, max_length=32)
    created_at: datetime = _utc()


class Binding(SQLModel, table=True):
    """Links a national complaint to the city's case, and remembers what was last stored.

    The unique (institution_id, complaint_id) index is what makes a pull idempotent: two workers that
    both receive the same complaint cannot both create a binding; the second insert fails and its
    transaction rolls back, so no case is duplicated.
    """

    __tablename__ = "binding"
    __table_args__ = (UniqueConstraint("institution_id", "complaint_id", name="uq_binding_complaint"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int
    complaint_id: int
    tracking_id: str = Field(index=True, max_length=32)
    case_id: int = Field(foreign_key="case.id", index=True)
    national_updated_at: datetime = _utc()
    content_hash: str = Field(max_length=64)
    last_seen_in_inbox_at: datetime | None = _utc(default=None)
    last_checked_at: datetime = _utc()


class Cursor(SQLModel, table=True):
    """A high-water mark of national ``updated_at`` over committed data (CONTRACT §6), in UTC."""

    __tablename__ = "cursor"

    name: str = Field(primary_key=True, max_length=64)
    position: datetime = _utc()
    updated_at: datetime = _utc()
    # When the last walk that proved itself began (lapor_sync.sync.watermark): with it the next
    # walk may skip a settled overlap window. NULL: unknown, the window is walked again.
    walked_at: datetime | None = _utc(default=None)


class RequestBudget(SQLModel, table=True):
    """Requests to LAPOR! spent on one WIB day under a named budget (e.g. rechecks), kept across restarts.

    ``day`` is the WIB date the count belongs to; a row of an earlier day counts as nothing spent.
    """

    __tablename__ = "request_budget"

    name: str = Field(primary_key=True, max_length=64)
    day: date
    used: int = 0
    updated_at: datetime = _utc()


class OutboxItem(SQLModel, table=True):
    """A change made in the city's records that must reach the national platform.

    Written in the same transaction as the change it announces. ``idempotency_key`` is unique: it is
    also the reference token put into a follow-up's content, and what read-back looks for after an
    ambiguous failure. ``state`` (:class:`~lapor_sync.domain.outbox.OutboxState`): pending → sending →
    delivered, or dead (with ``last_error``), or cancelled. ``needs_readback`` is set after an ambiguous failure, and a row found in ``sending``
    means a worker died mid-call: either way the national side is read back before any re-post.
    When its case is purged, a delivered, dead or cancelled row's texts (``content``, ``note``,
    ``reason`` in ``payload``) become :data:`PURGED_TEXT`; a follow-up keeps its reference token.

    Claims (the safety against two pushers, whatever the job lease says): a pusher moves a row to
    ``sending`` only with one conditional UPDATE that also raises ``fence`` by one and writes
    ``claimed_by`` and ``claimed_until``; the UPDATE matches only while the row is ``pending`` (or
    ``sending`` under a claim that may be taken over) and ``fence`` is still the value the pusher
    read, so two pushers can never both hold one row. A claim is taken over at once when its holder
    was a process of this host that has ended, never while that process runs, and otherwise once
    ``claimed_until`` has passed by the database's clock (:mod:`lapor_sync.sync.claims`). The holder
    re-checks ``fence`` right before each request and writes the outcome only under it. Without
    this, a pusher whose lease was lost (a stepped clock, a dropped lock connection) and the pusher
    that took the lease over would post the same follow-up twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_state_id", "institution_id", "state", "id"),
        Index("ix_outbox_kind", "institution_id", "kind", "id"),
        Index("ix_outbox_tracking", "tracking_id"),
        Index("ix_outbox_delivered", "institution_id", "delivered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    institution_id: int
    complaint_id: int
    tracking_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    idempotency_key: str = Field(unique=True, max_length=32)
    state: str = Field(max_length=16)
    attempts: int = 0
    needs_readback: bool = False
    next_attempt_at: datetime = _utc()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _utc()
    delivered_at: datetime | None = _utc(default=None)
    thread_entry_id: int | None = Field(default=None, foreign_key="thread_entry.id")
    fence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    claimed_by: str | None = Field(default=None, max_length=255)
    claimed_until: datetime | None = _utc(default=None)


class OutboxAttempt(SQLModel, table=True):
    """One delivery attempt of an outbox row: when (UTC), what came of it, the HTTP status, the error.

    ``outcome`` is an :class:`~lapor_sync.domain.outbox.AttemptOutcome`; ``http_status`` is ``None``
    when no answer came (a transport failure) or the call succeeded; ``error`` is masked as sync
    events are (no secrets, reporters' data or withheld texts). Written by the push with the
    row's outcome, in its transaction; pruned with the sync events by retention.
    """

    __tablename__ = "outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    at: datetime = _utc(index=True)
    outcome: str = Field(max_length=16)
    http_status: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))


class RunCounts(SQLModel):
    """The counters of one sync run, declared once: the journal counts in one, and :class:`SyncRun` stores them.

    Each counter is a column of ``sync_run`` (the table inherits them), shown by ``runs``, ``log``
    and ``sync`` in this order. Migration 0001 lists them too, by hand: a migration is frozen
    history and never follows this class; a new counter is a new migration.

    Attributes:
        fetched: national complaints read (from the inbox, by detail, or reread).
        created: cases created from complaints new to the city.
        updated: cases whose stored complaint changed.
        unchanged: complaints read again with nothing new.
        set_aside: malformed national records set aside.
        pushed: outbox rows delivered to LAPOR!.
        failed: failed attempts of outbox rows (each is retried later).
        dead_lettered: outbox rows given up as dead letters.
        quota_waited_seconds: seconds of the run during which at least one of its requests waited
            on the request quota (threads waiting at once count once: at most the run's wall time;
            CONTRACT §7 G4).
    """

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    set_aside: int = 0
    pushed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    quota_waited_seconds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    def counters(self) -> dict[str, int]:
        """Return the counters alone as a plain dict, in :data:`COUNTERS` order (a :class:`SyncRun`'s too)."""
        return {name: getattr(self, name) for name in COUNTERS}


COUNTERS: tuple[str, ...] = tuple(RunCounts.model_fields)
"""The names of the run counters, in declaration order (``fetched``, ..., ``dead_lettered``)."""


class SyncRun(RunCounts, table=True):
    """One run of a sync job (:class:`~lapor_sync.domain.runs.Job`), with its counts and outcome.

    The counters are the columns of :class:`RunCounts`; ``outcome`` is a
    :class:`~lapor_sync.domain.runs.RunOutcome`, ``running`` until the run ends.

    ``tick`` is the scheduled instant (UTC) a worker's run belongs to, ``None`` for a run started by
    hand. The unique (institution_id, job, tick) index makes "this tick already ran" a fact of
    identity, not a comparison of wall-clock times: two workers firing the same tick cannot both
    insert its run, and a clock that stepped back cannot make later ticks look done. ``holder``
    (``"<host>:<pid> <purpose>"``) and ``leases`` (the job leases held, comma-separated) let a run
    left ``running`` by a dead process be found and closed as ``abandoned``. ``quota_wait_until``:
    until when the run's requests wait on the request quota (the latest wait told, UTC), so that
    ``status`` in another process can say so.
    """

    __tablename__ = "sync_run"
    __table_args__ = (
        Index("uq_sync_run_tick", "institution_id", "job", "tick", unique=True),
        Index("ix_sync_run_job", "institution_id", "job", "id"),
        Index("ix_sync_run_outcome", "institution_id", "outcome", "id"),
        Index("ix_sync_run_trigger", "institution_id", "trigger", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int
    job: str = Field(max_length=16)
    trigger: str = Field(max_length=16)
    started_at: datetime = _utc()
    finished_at: datetime | None = _utc(default=None)
    outcome: str = Field(default=RunOutcome.RUNNING, max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text))
    tick: datetime | None = _utc(default=None)
    holder: str | None = Field(default=None, max_length=255)
    leases: str | None = Field(default=None, max_length=64)
    quota_wait_until: datetime | None = _utc(default=None)


class SyncEvent(SQLModel, table=True):
    """One thing that happened to one complaint in one run, in words an IT officer understands.

    Never carries secrets, reporters' personal data or confidential content.
    """

    __tablename__ = "sync_event"
    __table_args__ = (
        Index("ix_sync_event_complaint", "complaint_id", "at"),
        # Each filter of the event search, then id: a page of the newest matches reads only them.
        Index("ix_sync_event_run", "run_id", "id"),
        Index("ix_sync_event_tracking", "tracking_id", "id"),
        Index("ix_sync_event_kind_id", "kind", "id"),
        Index("ix_sync_event_level", "level", "id"),
        Index("ix_sync_event_agency", "agency_code", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="sync_run.id")
    at: datetime = _utc(index=True)
    complaint_id: int | None = None
    tracking_id: str | None = Field(default=None, max_length=32)
    agency_code: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)
    level: str = Field(max_length=8)
    message: str = Field(sa_column=Column(Text, nullable=False))


class SetAsideRecord(SQLModel, table=True):
    """A malformed national record kept with its raw payload and the reason, until resolved.

    ``raw`` is JSON text; when the case of its complaint is purged it becomes the JSON string
    :data:`PURGED_TEXT`.
    """

    __tablename__ = "set_aside"
    __table_args__ = (Index("ix_set_aside_institution", "institution_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int
    run_id: int | None = Field(default=None, foreign_key="sync_run.id")
    complaint_id: int | None = Field(default=None, index=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raw: str = Field(sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    resolved_at: datetime | None = _utc(default=None)


class ReadFailure(SQLModel, table=True):
    """A complaint whose read failed in consecutive pull runs, and how many (:mod:`lapor_sync.sync.read_failures`).

    One row per complaint while its reads keep failing; a read that succeeds deletes it. Without
    the count, a complaint whose detail keeps answering ``{"results": null}`` would fail every run
    and hold back every complaint behind it; with it, the pull sets the complaint aside once
    ``failures`` reaches the setting ``set_aside_after_failures``. ``reason`` is the last failure,
    free of secrets and personal data.
    """

    __tablename__ = "read_failure"

    institution_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    complaint_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    failures: int
    last_run_id: int | None = Field(default=None, foreign_key="sync_run.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    first_failed_at: datetime = _utc()
    last_failed_at: datetime = _utc()


class Lease(SQLModel, table=True):
    """Who runs one job for one institution right now: one row per (institution_id, job).

    Without it, two workers on one database (or a worker plus a manual ``sync``) would run the same
    pull at once: both read the same cursor, both fetch the same pages, and both push the same
    outbox rows, so the national platform could receive one follow-up twice. The primary key makes
    the row unique, and :mod:`lapor_sync.storage.lease` takes it over only when ``expires_at`` has
    passed, so a dead holder's lease lapses after its lifetime. On PostgreSQL the advisory lock
    decides and this row only says who holds the lease and since when.
    """

    __tablename__ = "lease"

    institution_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    job: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=255)
    token: str = Field(max_length=32)
    acquired_at: datetime = _utc()
    expires_at: datetime = _utc()
    renewed_at: datetime = _utc()


class MasterInstitutionRecord(SQLModel, table=True):
    """An institution the national platform lists (``GET /masters/institutions/external``, CONTRACT §7 G8).

    One row per (``institution_id``: the deployment that read it, ``national_id``: the listed
    institution). ``first_seen_at`` and ``last_seen_at`` are the first and the latest pull that
    listed it, ``updated_at`` when it was added or its name last changed, ``gone_at`` when a pull
    no longer listed it (NULL while listed): a gone row is kept, never deleted, so a mapping that
    names it can say it was withdrawn. Written only by ``lapor-sync masters pull``
    (:mod:`lapor_sync.sync.admin.masters`).
    """

    __tablename__ = "master_institution"

    institution_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    national_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    updated_at: datetime = _utc()
    gone_at: datetime | None = _utc(default=None)


class ReplyTemplateRecord(SQLModel, table=True):
    """A reply template of the national platform (``GET /masters/templates``, CONTRACT §7 G8), by its code.

    ``code`` is the template's ``template_code``; ``national_id`` its id there, when the platform
    sends one. The timestamps mean what they mean in :class:`MasterInstitutionRecord`
    (``updated_at``: its name, text or id last changed). ``lapor-sync case followup --template
    CODE`` takes ``content`` as the follow-up's text.
    """

    __tablename__ = "reply_template"

    institution_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    code: str = Field(primary_key=True, max_length=64)
    national_id: int | None = None
    name: str = Field(sa_column=Column(Text, nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    updated_at: datetime = _utc()
    gone_at: datetime | None = _utc(default=None)


class ConsoleSecret(SQLModel, table=True):
    """A key the web console keeps in the database, e.g. the one signing session cookies.

    In the database, not in a process: every process serving the console (``web``, ``worker --web``,
    on one host or several) signs and checks cookies with the same key, and a restart signs nobody out.
    The first process to need it inserts it; a second racing it loses on the primary key and reads it.
    """

    __tablename__ = "console_secret"

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = _utc()


class ConsoleUserRecord(SQLModel, table=True):
    """A person who signs in to the web console (``lapor-sync user add``).

    ``name`` is case-folded and unique. ``password_hash`` is an argon2id PHC string, never the
    password. ``password_changed_at`` (UTC) ends every session issued before it, and so does
    ``signed_out_at`` (UTC, whole seconds: a sign-out ends the user's sessions in every browser, so a
    copied session cookie is worthless after it). A disabled user keeps the row (the audit log names
    them) but can neither sign in nor use a token.
    """

    __tablename__ = "console_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    disabled: bool = False
    created_at: datetime = _utc()
    password_changed_at: datetime = _utc()
    signed_out_at: datetime | None = _utc(default=None)


class ApiTokenRecord(SQLModel, table=True):
    """A console user's API token for ``/api/v1`` (``lapor-sync user token``).

    Only the token's SHA-256 (hex) is kept, and its first characters (``prefix``) to find the row
    and to list it; the token itself is shown once. A revoked token keeps its row (``revoked_at``,
    UTC) so the list says when it ended. ``last_used_at`` is updated at most once a minute.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="console_user.id", index=True)
    label: str = Field(max_length=64)
    prefix: str = Field(max_length=16, index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = _utc()
    last_used_at: datetime | None = _utc(default=None)
    revoked_at: datetime | None = _utc(default=None)


class SignInAttempt(SQLModel, table=True):
    """One failed console sign-in, counted by the throttle for 15 minutes, then pruned.

    In the database, not in memory, because several processes may serve the console. The name
    tried is kept as its SHA-256 (``name_key``): people sometimes type a password into the name field.
    """

    __tablename__ = "sign_in_attempt"
    __table_args__ = (
        Index("ix_sign_in_attempt_name", "name_key", "at"),
        Index("ix_sign_in_attempt_address", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    name_key: str = Field(max_length=64)
    address: str = Field(max_length=64)


class AuditEntry(SQLModel, table=True):
    """Who did what, to which complaint, when (UTC) and from where: the console's and ``user``'s audit log.

    ``detail`` never holds secrets, reporters' personal data or confidential content. Read newest
    first by ``id``; each filter has an index ending in ``id`` for the keyset pagination.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_user", "user_name", "id"),
        Index("ix_audit_entry_action", "action", "id"),
        Index("ix_audit_entry_tracking", "tracking_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    user_name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    action: str = Field(max_length=64)
    address: str | None = Field(default=None, max_length=64)
    case_id: int | None = None
    tracking_id: str | None = Field(default=None, max_length=32)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
