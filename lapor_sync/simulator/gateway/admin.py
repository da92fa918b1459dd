"""The gateway's simulator-only endpoints (never behind the gateway itself).

``GET /_simulator/gateway``: its settings, its two fake keys, the faults waiting and its counts
(refusals by fault code; requests let through by environment and by endpoint variant).
``POST /_simulator/gateway/faults`` with ``{"code": 900900, "count": 3}`` (``count`` default 1,
optional ``"status": 503`` instead of the catalogue's) makes the gateway answer that fault to the
next ``count`` requests; ``DELETE`` drops every waiting fault. No authentication: loopback only.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lapor_sync.simulator.gateway.model import Gateway


def _whole(body: dict[str, object], name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number")
    return value


def gateway_routes(gateway: Gateway) -> list[Route]:
    """Return the ``/_simulator/gateway`` routes over ``gateway``."""

    async def state(_: Request) -> Response:
        return JSONResponse(gateway.state())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            gateway.script.clear()
            return JSONResponse({"scripted": gateway.script.waiting()})
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            code = _whole(body, "code", None)
            if code is None:
                raise ValueError("code is required, e.g. 900900")
            gateway.script.push(code, _whole(body, "count", 1) or 0, _whole(body, "status", None))
        except ValueError as refused:
            return JSONResponse({"message": f"Cannot script gateway faults: {refused}"}, status_code=422)
        return JSONResponse({"scripted": gateway.script.waiting()})

    return [
        Route("/_simulator/gateway", state, methods=["GET"]),
        Route("/_simulator/gateway/faults", faults, methods=["POST", "DELETE"]),
    ]
