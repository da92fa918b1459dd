"""The doctor's fifth step: the SPLP gateway key, read without sending it anywhere (CONTRACT §7 G5).

An SPLP key is a JWT scoped to one API and to sandbox or production; a sandbox key on the
production base URL (or the other way round) gets fault 900901 at the first request. Reading its
claims here tells that before any request is spent.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lapor_sync.adapters.national import splp_key
from lapor_sync.checks.doctor.result import Check, Step
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    from lapor_sync.config.settings import Settings

_NEW_KEY = f"ask SPLP for a new key and set {splp_key.KEY_SETTING} (or {splp_key.KEY_SETTING}_FILE) to it"


def check_gateway_key(settings: Settings, now: datetime) -> Check:
    """Step 5: the gateway key's type and dates against the base URL, without verifying or sending it.

    Fails (with the fix) for a key that cannot be read, a key of the other kind than the base URL
    (SANDBOX on production or the other way round: 900901, G2), or one whose ``exp`` has passed at
    ``now`` (aware); other findings (it expires soon, an unknown key type) are shown on a passing line.
    Not checked in the modes that send no SPLP key.
    """
    if settings.auth_mode != "splp_key":
        return Check.skipped(Step.GATEWAY_KEY, f"no SPLP key configured (auth mode {settings.auth_mode})")
    if settings.splp_key is None:
        return Check.failed(Step.GATEWAY_KEY, f"{splp_key.KEY_SETTING} is not set", _NEW_KEY)
    try:
        claims = splp_key.read_key_claims(settings.splp_key)
    except splp_key.UnreadableKeyError as exc:
        return Check.failed(Step.GATEWAY_KEY, str(exc), _NEW_KEY)
    kind = splp_key.base_url_kind(settings.api_base_url)
    if claims.keytype in ("SANDBOX", "PRODUCTION") and kind != "unknown" and claims.keytype.lower() != kind:
        other = "sandbox" if kind == "production" else "production"
        return Check.failed(
            Step.GATEWAY_KEY,
            f"a {claims.keytype} key on the {kind} API: the gateway refuses it (900901)",
            f"set {splp_key.KEY_SETTING} to a {kind.upper()} key, or point {splp_key.BASE_URL_SETTING} at "
            f"the {other} API the key is for",
        )
    if claims.expires_at is not None and claims.expires_at <= now:
        return Check.failed(
            Step.GATEWAY_KEY, f"the key expired at {display_wib(claims.expires_at)}: the gateway refuses it", _NEW_KEY
        )
    expires = display_wib(claims.expires_at) if claims.expires_at else "never"
    detail = f"{claims.keytype or 'no key type'} key for the {kind} API, expires {expires}"
    notes = [w for w in splp_key.key_warnings(claims, settings.api_base_url, now) if "expired" not in w]
    return Check.passed(Step.GATEWAY_KEY, "; ".join([detail, *notes]))
