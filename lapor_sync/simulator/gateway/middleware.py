"""The ASGI layer that plays SPLP in front of the simulated LAPOR!: faults, resources, keys, quota.

Per request under a base path (CONTRACT §1: production ``/lapor/3.0.0``, sandbox
``/sandbox-konsolidasi/1.0``), in this order, the first that applies answers:

1. a fault scripted by a test (:mod:`lapor_sync.simulator.gateway.script`);
2. no resource of the API matches the method and path: 900906, 404;
3. no key in the key header (``AuthorizationSPLP: Bearer <jwt>`` by default): 900902, 401;
4. a key this gateway did not mint (garbled, another API's): 900901, 401;
5. a key of the other environment (a SANDBOX key on the production path or the reverse): 900901, 401
   (CONTRACT §7 G2);
6. a key whose ``exp`` has passed: 900901, 401, as WSO2's API-key authenticator answers an expired
   key (900903, "access token expired", is what it answers an expired OAuth2 token; a test can
   script it);
7. the key's per-minute quota is spent: 900800, 429, no ``Retry-After`` (G3).

Otherwise the request goes on to LAPOR!, whose own checks (its ``auth``/``token``, its 401
``{"message"}``, its per-second limit, its injected faults) stand behind the gateway. Paths outside
the base paths (``/_simulator/...``, the token URL) never meet the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from lapor_sync.simulator.gateway.faults import (
    INVALID_CREDENTIALS,
    MISSING_CREDENTIALS,
    NO_MATCHING_RESOURCE,
    THROTTLED,
    fault_answer,
)
from lapor_sync.simulator.gateway.keys import KeyType
from lapor_sync.simulator.gateway.model import Gateway

Refusal = tuple[int, str | None, int | None]
"""A fault to answer: code, description (``None``: the catalogue's), status (``None``: the catalogue's)."""


class SplpGatewayMiddleware:
    """Answers for the gateway before the simulated LAPOR! sees a request (see the module for the order).

    Args:
        app: the simulator's app, behind the gateway.
        gateway: the gateway's settings and state.
        resources: the API's routes (every base path and variant), to tell a wrong path (900906).
    """

    def __init__(self, app: ASGIApp, *, gateway: Gateway, resources: Sequence[BaseRoute]) -> None:
        self.app = app
        self.gateway = gateway
        self.resources = tuple(resources)
        self.header = gateway.settings.header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call: refuse it as the gateway, or pass it on."""
        environment = self.gateway.environment(scope["path"]) if scope["type"] == "http" else None
        if environment is None:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, environment)
        if refusal is None:
            self.gateway.passed(environment, scope["path"])
            await self.app(scope, receive, send)
            return
        code, description, status = refusal
        self.gateway.refused(code)
        status, headers, body = fault_answer(
            code, self.gateway.settings.fault_format, description=description, status=status
        )
        await Response(body, status_code=status, headers=headers)(scope, receive, send)

    def _refusal(self, scope: Scope, environment: KeyType) -> Refusal | None:
        """The fault this request gets from the gateway, or ``None`` to let it through."""
        if (scripted := self.gateway.script.pop()) is not None:
            return scripted.code, None, scripted.status
        if not any(route.matches(scope)[0] is Match.FULL for route in self.resources):
            return NO_MATCHING_RESOURCE, None, None
        token = _bearer(Headers(scope=scope).get(self.header))
        if token is None:
            return MISSING_CREDENTIALS, f"Make sure your API invocation call has a {self.header} header", None
        key = self.gateway.keys.find(token)
        if key is None:
            return INVALID_CREDENTIALS, None, None
        if key.keytype is not environment:
            wanted = environment.value.lower()
            return INVALID_CREDENTIALS, f"A {key.keytype.value} key was offered to the {wanted} API", None
        if key.expired(self.gateway.settings.clock()):
            return INVALID_CREDENTIALS, "The API key has expired", None
        if not self.gateway.quota.take(token):
            return THROTTLED, None, None
        return None


def _bearer(value: str | None) -> str | None:
    """The key in a header value ``Bearer <key>`` (the scheme is optional); ``None`` when there is none."""
    text = (value or "").strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text or None
