"""The doctor's fifth step: the SPLP gateway key, read without sending it anywhere (CONTRACT §7 G5).

An SPLP key is a JWT scoped to one API and to sandbox or production; a sandbox key on the
production base URL (or the other way round) gets fault 900901 at the first request. Reading its
claims here tells that before any request is spent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lapor_sync.checks.doctor.result import Check, Step

if TYPE_CHECKING:
    from lapor_sync.config.settings import Settings


def check_gateway_key(settings: Settings) -> Check:
    """Step 5: the gateway key's type and dates against the base URL, without verifying or sending it.

    No auth mode of this build sends an SPLP key, so there is none to read: the step says so and
    is not counted as a failure. The ``splp_key`` mode (issue 13) brings the key and a reader of
    its claims; this is the one place that reads them (a mismatch with the base URL fails here).
    """
    return Check.skipped(Step.GATEWAY_KEY, f"no SPLP key configured (auth mode {settings.auth_mode})")
