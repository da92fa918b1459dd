"""The national adapter: SP4N-LAPOR! v3 over HTTP, behind the ``NationalPlatform`` port (CONTRACT §5, §6).

``client`` is the port itself; ``auth`` signs requests (static key, static key with an SPLP key,
or SPLP OAuth2) and ``splp_key`` reads the SPLP key's claims; ``classify`` turns failures into
domain errors; ``retry`` retries what is safe; ``deadline`` gives each attempt a wall-clock limit;
``outbound`` keeps requests to the configured hosts; ``paginator`` walks lists; ``config`` reads
settings (the endpoints' model is ``lapor_sync.config.endpoints``); ``wire`` is the only code that
knows the platform's JSON.
"""

from lapor_sync.adapters.national.auth import OAuth2ClientCredentialsAuth, SplpKeyAuth, StaticKeyAuth
from lapor_sync.adapters.national.client import LaporClient
from lapor_sync.adapters.national.retry import RetryPolicy
from lapor_sync.adapters.national.wire import Category, Institution

__all__ = [
    "Category",
    "Institution",
    "LaporClient",
    "OAuth2ClientCredentialsAuth",
    "RetryPolicy",
    "SplpKeyAuth",
    "StaticKeyAuth",
]
