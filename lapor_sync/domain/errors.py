"""Every exception lapor-sync raises on purpose, classified by what must be done with it.

The classification of the platform's errors follows CONTRACT §6: retry what is safe, stop the run
on authentication failures, set aside (or dead-letter) what the platform refuses for one item.
Messages never carry secrets or reporters' personal data.

The tree (a class named with a path lives there, beside the one rule or protocol that raises it;
every other class is defined here):

* LaporSyncError: a command ends with one line and exit code 2 (``LeaseBusy``: 3)
  + ConfigurationError: a setting or the mapping file is missing or wrong; the message names it
  + NationalPlatformError: a call to LAPOR! failed
    - TransientError: retried; the run fails when the retries give up
      · AmbiguousWriteError: LAPOR! is read back before anything is posted again
      · QuotaExceededError: the gateway's quota refused the request (nothing applied); waited
        for once, a second one stops the run
    - RunStoppingError: the run stops (401, 403 on a read, a pagination loop, a refused request)
      · OversizeAnswerError (adapters/national/classify.py): an answer to a read over
        ``max_response_bytes``; beside the classifier that makes it (the client turns one for a
        complaint's detail into ``MalformedRecordError``)
    - ItemRejectedError: one record set aside, or one outbox row dead-lettered
  + MalformedRecordError: a national record that cannot be read is set aside; the run goes on
  + LeaseBusy: another runner holds the job's lease (a worker skips the tick)
  + LeaseLost: a lease held was lost; the run ends ``failed``
  + ClaimLost (lapor_sync/sync/claims.py): an outbox row's claim was taken over; the run ends
    ``failed``. Part of the claim protocol, and raised and handled inside the sync engine
  + WithheldError (lapor_sync/sync/scrub.py): stands in for an exception whose text quoted a
    withheld text; made only by ``scrubbed``
  + ActionRefused (lapor_sync/domain/actions.py): staff's action not allowed; beside the rule
    (``check_action``) it enforces
  + CaseNotFound (adapters/city/builtin.py): the city-records adapter's refusal of an
    unknown case id (the port promises a ``LaporSyncError``)
  + SelectionError (lapor_sync/sync/admin/selection.py): an admin's resync selection, refused
    beside the rules of a selection
  + OutboxRefused (lapor_sync/sync/admin/outbox.py): an admin's requeue or cancel, refused by the
    row's state, beside those rules
  + CaseRefInvalid (lapor_sync/reports/case_lookup.py): typed text that names a case in neither
    form (case id, tracking id)
  + SetAsideRefused (lapor_sync/sync/admin/set_aside.py): a set-aside record unknown, without a
    complaint id, or without a case yet
  + RuleRefused (lapor_sync/config/mapping_rule.py): a proposed category route the mapping
    cannot take
* AlreadyRun: a run of the job already belongs to the tick (the worker skips it)
* TickTaken: another runner inserted the tick's run first (becomes ``AlreadyRun``)
* RunInterrupted: a stop was requested; the run ends ``interrupted``

The last three are signals, not faults: they are not ``LaporSyncError``, so nothing reports one
as an error. Outside the tree, as they never leave their own part:

* AnswerTooLargeError (adapters/national/outbound.py): the client classifies it at once
  (``classify.answer_too_large``)
* SimulatorError, FormError, FaultFileError (lapor_sync/simulator/): the simulator's refusals,
  sent as HTTP answers or shown by its command, never raised into the sync engine
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

from lapor_sync.domain.timezones import display_wib


class LaporSyncError(Exception):
    """Base of every error lapor-sync raises on purpose."""


class ConfigurationError(LaporSyncError):
    """A setting or mapping file is missing or wrong; the message names it."""


class Layer(StrEnum):
    """Which layer of the national side answered a failed call (CONTRACT §7 G1).

    LAPOR! sits behind SPLP, a WSO2 API Manager gateway that may refuse a request before LAPOR!
    sees it, with a fault body of its own; a city's IT staff fix the two in different places.
    """

    GATEWAY = "SPLP gateway"
    LAPOR = "LAPOR!"


class NationalPlatformError(LaporSyncError):
    """A call to the national platform failed.

    Attributes:
        status: the HTTP status, or ``None`` for transport failures.
        detail: the platform's ``message`` (already free of secrets), or a short description.
        layer: which layer refused (:class:`Layer`), or ``None`` when no answer came (transport failures).
        fault_code: the gateway's WSO2 fault code (``900901``...), when its answer carried one.
    """

    def __init__(
        self, detail: str, *, status: int | None = None, layer: Layer | None = None, fault_code: int | None = None
    ) -> None:
        # "SPLP gateway refused: HTTP 401: ..." / "LAPOR! refused: HTTP 422: ...": the layer first,
        # since the two are fixed in different places (CONTRACT §7). LAPOR! failing on its side (a
        # 5xx) or answering garbage with a 200 did not refuse anything: it "answered".
        text = detail if status is None else f"HTTP {status}: {detail}"
        refused = layer is Layer.GATEWAY or status is None or 400 <= status < 500
        super().__init__(text if layer is None else f"{layer} {'refused' if refused else 'answered'}: {text}")
        self.status = status
        self.detail = detail
        self.layer = layer
        self.fault_code = fault_code


class TransientError(NationalPlatformError):
    """Worth retrying later: transport errors, 408, 429, 5xx, protocol garbage on a GET.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        layer: Layer | None = None,
        fault_code: int | None = None,
    ) -> None:
        super().__init__(detail, status=status, layer=layer, fault_code=fault_code)
        self.retry_after = retry_after


class AmbiguousWriteError(TransientError):
    """A write may or may not have been applied (read timeout, dropped connection, 502/504).

    CONTRACT §6: read back before posting again.
    """


class QuotaExceededError(TransientError):
    """The gateway's quota refused the request: a 429 without ``Retry-After``, WSO2 faults 900800-900807.

    Nothing was applied (CONTRACT §7 G3). The client waits until the quota window has passed and
    tries once more; raised from the client, it means the second try was throttled too, and the
    run stops (the next one goes on from what is stored).
    """


class RunStoppingError(NationalPlatformError):
    """401/403 or a loop in pagination: the whole run must stop and report, never retry in a loop."""


class ItemRejectedError(NationalPlatformError):
    """400/404/422: permanent for this one item; set it aside or dead-letter it with the reason."""


class MalformedRecordError(LaporSyncError):
    """A record from the national platform could not be turned into domain objects.

    Attributes:
        complaint_id: the record's id when it could be read, else ``None``.
        reason: what was wrong, naming the field (never its personal-data value).
        raw: the raw payload, kept so the record can be inspected and retried.
    """

    def __init__(self, reason: str, *, complaint_id: int | None = None, raw: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.complaint_id = complaint_id
        self.raw = raw


class LeaseBusy(LaporSyncError):
    """Another runner holds the job's lease (:mod:`lapor_sync.storage.lease`).

    The message says who, since when, how long the holder has not renewed it and when it frees:
    ``job 'pull' is already running: held by hostB:1234 worker since 10:38 WIB (03:38 UTC), silent
    for 2 min 10 s; it frees at 10:42 WIB, or at once if that process is gone``. A holder's
    incarnation (``@...``) is left out of it.

    Attributes:
        job: the job asked for (``pull``, ``push``, ...).
        holder: who holds it (``"<host>:<pid> <purpose> @<incarnation>"``, see
            :func:`~lapor_sync.storage.holders.holder_name`), or ``"another process"`` when a
            PostgreSQL holder has not written its row yet.
        since: when it took the lease (aware, UTC), or ``None`` when not known.
        silent_seconds: how long since the holder last renewed it, seconds; ``None`` when not known.
        frees_at: when it lapses unrenewed (aware, UTC); ``None`` for a PostgreSQL session lock,
            which frees only when its holder's session ends.
        seen_here: whether this host can tell that the holder has ended (a process of this host, named
            with its incarnation), so that its lease is taken over at once then; otherwise (another host)
            only at ``frees_at``, and the message says so.
    """

    def __init__(
        self,
        job: str,
        holder: str,
        since: datetime | None,
        *,
        silent_seconds: int | None = None,
        frees_at: datetime | None = None,
        seen_here: bool = True,
    ) -> None:
        when = "" if since is None else f" since {display_wib(since)} ({since.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        silence = "" if silent_seconds is None else f", silent for {_say_span(silent_seconds)}"
        if frees_at is not None and not seen_here:
            frees = (
                f"; it frees at {display_wib(frees_at)} (whether that process still runs cannot be seen from "
                "this host: its lease is taken over only then)"
            )
        elif frees_at is not None:
            frees = f"; it frees at {display_wib(frees_at)}, or at once if that process is gone"
        elif silent_seconds is not None:
            frees = "; it frees when that process ends (a PostgreSQL session lock)"
        else:
            frees = ""
        shown = _INCARNATION.sub("", holder)
        super().__init__(f"job '{job}' is already running: held by {shown}{when}{silence}{frees}")
        self.job = job
        self.holder = holder
        self.since = since
        self.silent_seconds = silent_seconds
        self.frees_at = frees_at


_INCARNATION = re.compile(r" @\d+-[0-9a-f]{8}$")
"""The incarnation at the end of a holder's name (:func:`~lapor_sync.storage.holders.holder_name`)."""


def _say_span(seconds: int) -> str:
    """Say a span for people, to the second: ``45 s``, ``2 min 10 s``, ``1 h 5 min``."""
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class LeaseLost(LaporSyncError):
    """A held lease was lost, so another runner may now run the job: stop before the next write.

    SQLite: it expired unrenewed and another runner took it. PostgreSQL: the connection holding the
    advisory lock broke, which frees the lock on the server.

    Attributes:
        job: the job whose lease it was.
        reason: how it was lost.
    """

    def __init__(self, job: str, reason: str) -> None:
        super().__init__(f"lease of job '{job}' lost: {reason}")
        self.job = job
        self.reason = reason


class AlreadyRun(Exception):  # noqa: N818 - not a fault: the tick is done
    """A run of the job already belongs to the tick asked about: another runner did this tick.

    Attributes:
        job: the job.
        run_id: that run's id.
        started_at: when it started (aware, UTC).
    """

    def __init__(self, job: str, run_id: int, started_at: datetime) -> None:
        super().__init__(f"job '{job}' already ran for this tick (run #{run_id}, started {display_wib(started_at)})")
        self.job, self.run_id, self.started_at = job, run_id, started_at


class TickTaken(Exception):  # noqa: N818 - not a fault: the tick is done
    """Another runner inserted the run of this job's tick first (the unique index ``uq_sync_run_tick``).

    Attributes:
        job: the job.
        tick: the scheduled instant (aware) both runs claimed.
    """

    def __init__(self, job: str, tick: datetime | None) -> None:
        super().__init__(f"job '{job}' already has a run for the tick at {tick}")
        self.job, self.tick = job, tick


class RunInterrupted(Exception):  # noqa: N818 - a request, not a fault
    """Raised at a checkpoint when a stop was requested: the run ends after the item in flight."""
