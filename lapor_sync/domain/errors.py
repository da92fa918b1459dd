"""Errors the ports raise, classified by what the sync engine must do with them.

The classification follows CONTRACT §6: retry what is safe, stop the run on authentication
failures, set aside (or dead-letter) what the platform refuses for one item. Messages never carry
secrets or reporters' personal data.
"""

from __future__ import annotations


class LaporSyncError(Exception):
    """Base of every error lapor-sync raises on purpose."""


class ConfigurationError(LaporSyncError):
    """A setting or mapping file is missing or wrong; the message names it."""


class NationalPlatformError(LaporSyncError):
    """A call to the national platform failed.

    Attributes:
        status: the HTTP status, or ``None`` for transport failures.
        detail: the platform's ``message`` (already free of secrets), or a short description.
    """

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail if status is None else f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class TransientError(NationalPlatformError):
    """Worth retrying later: transport errors, 408, 429, 5xx, protocol garbage on a GET.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail, status=status)
        self.retry_after = retry_after


class AmbiguousWriteError(TransientError):
    """A write may or may not have been applied (read timeout, dropped connection, 502/504).

    CONTRACT §6: read back before posting again.
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
