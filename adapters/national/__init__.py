"""The national adapter: SP4N-LAPOR! v3 over HTTP, behind the ``NationalPlatform`` port (CONTRACT §5, §6).

``client`` is the port itself; ``auth`` signs requests (static key or SPLP OAuth2); ``classify``
turns failures into domain errors; ``retry`` retries what is safe; ``deadline`` gives each attempt
a wall-clock limit; ``outbound`` keeps requests to the configured hosts; ``paginator`` walks lists;
``config`` reads settings; ``wire`` is the only code that knows the platform's JSON.
"""

from lapor_sync.adapters.national.auth import OAuth2ClientCredentialsAuth, StaticKeyAuth
from lapor_sync.adapters.national.client import LaporClient
from lapor_sync.adapters.national.retry import RetryPolicy
from lapor_sync.adapters.national.wire import Category, Institution

__all__ = ["Category", "Institution", "LaporClient", "OAuth2ClientCredentialsAuth", "RetryPolicy", "StaticKeyAuth"]
