"""The doctor's last step: what it spent of the gateway's per-minute quota, and whether it was throttled.

SPLP counts requests per minute and answers a 429 without ``Retry-After`` when a client goes over
(CONTRACT §7 G3); one production client waits 65 s after one (G4). The doctor reports the
client-side quota configured and the requests it sent itself; it does not guess at the headroom
left, which the gateway does not tell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lapor_sync.checks.doctor.result import Check, Step
from lapor_sync.domain.errors import NationalPlatformError, TransientError

if TYPE_CHECKING:
    from lapor_sync.checks.doctor.national import Spent
    from lapor_sync.config.settings import Settings


def client_quota(settings: Settings) -> int | None:
    """The client-side limit (``LAPOR_SYNC_REQUESTS_PER_MINUTE``), requests per minute, or ``None`` when off (0)."""
    return settings.requests_per_minute or None


def check_quota(settings: Settings, spent: Spent, throttled: NationalPlatformError | None) -> Check:
    """Step 10: the requests the doctor spent, the quota configured, and a throttling answer with the wait.

    Args:
        settings: the settings (for the configured quota).
        spent: the requests the doctor sent to the national side.
        throttled: the 429 or WSO2 throttling fault one of them got, or ``None``.
    """
    quota = client_quota(settings)
    limit = (
        f"client-side quota {quota} requests/min"
        if quota is not None
        else "no client-side quota (LAPOR_SYNC_REQUESTS_PER_MINUTE=0; SPLP counts per minute: CONTRACT §7 G3, G4)"
    )
    if throttled is None:
        return Check.passed(Step.QUOTA, f"{spent.said()}; {limit}")
    wait = throttled.retry_after if isinstance(throttled, TransientError) and throttled.retry_after else None
    wait = settings.quota_wait_seconds if wait is None else wait
    fault = f", fault {throttled.fault_code}" if throttled.fault_code is not None else ""
    return Check.failed(
        Step.QUOTA,
        f"throttled by the gateway (HTTP {throttled.status}{fault}); {spent.said()}; {limit}",
        f"wait {wait:g} s for the quota window, then run doctor again; a worker running meanwhile spends the same quota",
    )
