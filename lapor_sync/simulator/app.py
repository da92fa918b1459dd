"""The simulator's HTTP face: the contract's endpoints under ``/lapor/3.0.0`` as a Starlette app.

Besides, ``POST /oauth2/token`` stands in for the SPLP gateway's token URL (CONTRACT §1), and the
simulator-only ``/_simulator/...`` endpoints of :mod:`lapor_sync.simulator.admin` are mounted.
Injected faults (:mod:`lapor_sync.simulator.faults.middleware`) touch only the contract's endpoints.
With a gateway (:mod:`lapor_sync.simulator.gateway`), the endpoints are served under the sandbox
base path too, each also under its variant path (``-lmw``, CONTRACT §7 G7), behind the gateway's layer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lapor_sync.simulator import wire
from lapor_sync.simulator.admin import simulator_routes
from lapor_sync.simulator.auth import AccessTokens, Authenticator, AuthMode, Credentials, RateLimiter
from lapor_sync.simulator.catalog import CATEGORIES, INSTITUTIONS
from lapor_sync.simulator.faults.middleware import FaultMiddleware
from lapor_sync.simulator.faults.plan import FaultSwitch
from lapor_sync.simulator.forms import FormError, parse_form
from lapor_sync.simulator.gateway.admin import gateway_routes
from lapor_sync.simulator.gateway.middleware import SplpGatewayMiddleware
from lapor_sync.simulator.gateway.model import BASE_PATHS, Gateway
from lapor_sync.simulator.paths import BASE_PATH, TOKEN_PATH, VARIANT_SUFFIX, page_size_name
from lapor_sync.simulator.rules import SimulatorError
from lapor_sync.simulator.world import World

MAX_PER_PAGE = 100
MASTERS_PAGE_SIZE = 100  # our model: what a master list serves when page_size is not given
MAX_MASTERS_PAGE_SIZE = 1000  # G8: page_size=1000 is seen; a larger one is cut down, Laravel-style
Handler = Callable[[Request], Awaitable[Response]]


def _invalid(field: str, text: str) -> SimulatorError:
    return SimulatorError(422, "The given data was invalid.", {field: [text]})


def _int(value: object, field: str, *, default: int | None = None, minimum: int | None = None) -> int:
    """Read an integer parameter; raises a 422 ``SimulatorError`` naming ``field`` otherwise."""
    if value is None or value == "":
        if default is None:
            raise _invalid(field, f"The {field} field is required.")
        return default
    try:
        number = int(value) if isinstance(value, bool) else int(str(value))
    except ValueError:
        raise _invalid(field, f"The {field} must be an integer.") from None
    if minimum is not None and number < minimum:
        raise _invalid(field, f"The {field} must be at least {minimum}.")
    return number


def _flag(value: object, field: str) -> bool:
    number = _int(value, field, default=0)
    if number not in (0, 1):
        raise _invalid(field, f"The {field} must be 0 or 1.")
    return bool(number)


def _results(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"results": body})


def _error(status: int, message: str, errors: dict[str, list[str]] | None = None) -> JSONResponse:
    return JSONResponse({"message": message, **({"errors": errors} if errors else {})}, status_code=status)


def _path(request: Request) -> str:
    """The request's absolute URL without its query (a URL has no fragment on the server side)."""
    return str(request.url).partition("?")[0]


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise SimulatorError(400, "The body must be JSON.") from None
    if not isinstance(body, dict):
        raise SimulatorError(400, "The body must be a JSON object.")
    return body


class _Api:
    """Endpoint handlers over one world; each public handler is wrapped by :meth:`guarded`."""

    def __init__(self, world: World, auth: Authenticator, limiter: RateLimiter | None) -> None:
        self.world = world
        self.auth = auth
        self.limiter = limiter

    def _throttled(self, request: Request) -> Response | None:
        if self.limiter is None:
            return None
        client = request.headers.get("token") or (request.client.host if request.client else "?")
        wait = self.limiter.acquire(client)
        if wait is None:
            return None
        response = _error(429, "Too Many Attempts.")
        response.headers["Retry-After"] = str(wait)
        return response

    def guarded(self, handler: Handler) -> Handler:
        """Wrap ``handler`` with the rate limit (429), authentication (401) and error bodies."""

        async def endpoint(request: Request) -> Response:
            if (refusal := self._throttled(request)) is not None:
                return refusal
            if not self.auth.authenticate(request.headers):
                return _error(401, "Unauthenticated.")
            try:
                return await handler(request)
            except SimulatorError as refused:
                return _error(refused.status, refused.message, refused.errors)

        return endpoint

    async def inbox(self, request: Request) -> Response:
        """``GET /complaints/inbox?updated_since=&page=&per_page=`` (CONTRACT §5).

        ``page_size`` is read as ``per_page`` when ``per_page`` is absent (CONTRACT §7 G8: masters
        page by ``page_size``), and ``next_page_url`` then carries ``page_size``.
        """
        params = request.query_params
        since_text = params.get("updated_since")
        try:
            since = wire.parse_wib(since_text) if since_text else None
        except ValueError:
            raise _invalid("updated_since", "The updated_since must be DD-MM-YYYY HH:MM:SS.") from None
        page = _int(params.get("page"), "page", default=1, minimum=1)
        # Laravel-style: a larger per_page is cut down to the maximum, not refused.
        size = page_size_name(params)
        per_page = min(MAX_PER_PAGE, _int(params.get(size), size, default=20, minimum=1))
        items, total = self.world.inbox_page(since, page, per_page)
        query = {size: str(per_page), **({"updated_since": since_text} if since_text else {})}
        with self.world.lock:  # a consistent picture of each complaint, even while another thread writes
            data = [wire.complaint_json(c) for c in items]
        page_body = wire.paginator(data, total=total, page=page, per_page=per_page, path=_path(request), query=query)
        return _results(page_body)

    async def complaint(self, request: Request) -> Response:
        """``GET /complaints/{complaint_id}/complaint``: complaint, status logs and data logs."""
        with self.world.lock:
            c = self.world.complaint(request.path_params["complaint_id"])
            data = {**wire.complaint_json(c), "status_logs": [wire.status_log_json(s) for s in c.status_logs]}
            return _results({"data": data, "data_logs": [wire.data_log_json(d) for d in c.data_logs]})

    async def followups(self, request: Request) -> Response:
        """``GET /complaints/{complaint_id}/followups?page=``: 20 per page, unsorted."""
        page = _int(request.query_params.get("page"), "page", default=1, minimum=1)
        items, total = self.world.followups_page(request.path_params["complaint_id"], page, 20)
        data = [wire.followup_json(f) for f in items]
        return _results(wire.paginator(data, total=total, page=page, per_page=20, path=_path(request), query={}))

    async def add_followup(self, request: Request) -> Response:
        """``POST /complaints/followup/add`` (multipart form); stores every post, duplicates too."""
        try:
            form = parse_form(request.headers.get("content-type", ""), await request.body())
        except FormError as unreadable:
            raise SimulatorError(400, str(unreadable)) from None
        fields = form.fields
        template = fields.get("template_code", "followup")
        if template != "followup":
            raise _invalid("template_code", "The template_code must be followup.")
        to_text = fields.get("institution_to_id")
        stored = self.world.add_followup(
            _int(fields.get("complaint_id"), "complaint_id"),
            _int(fields.get("institution_from_id"), "institution_from_id"),
            fields.get("content", ""),
            institution_to_id=_int(to_text, "institution_to_id") if to_text else None,
            rating=_int(fields.get("rating"), "rating", default=0, minimum=0),
            is_secret=_flag(fields.get("is_secret"), "is_secret"),
            attachment_names=form.file_names,
        )
        return _results({"message": "Tindak lanjut berhasil disimpan.", "data": wire.followup_json(stored)})

    async def reject(self, request: Request) -> Response:
        """``POST /complaints/process/{complaint_id}/reject`` (JSON): a request for the admin."""
        body = await _json_body(request)
        if _int(body.get("is_request"), "is_request", default=1) != 1:
            raise _invalid("is_request", "Only requests (is_request = 1) are accepted.")
        description = body.get("reason_description")
        if not isinstance(description, str):
            raise _invalid("reason_description", "The reason description is required.")
        stored = self.world.request_reject(
            request.path_params["complaint_id"],
            not_authority=_flag(body.get("not_authority"), "not_authority"),
            target_institution_id=_int(body.get("reason"), "reason", default=0),
            description=description,
        )
        data = {
            "request_id": stored.id,
            "status": "pending",
            "requested_at": wire.format_wib(stored.requested_at),
        }
        return _results({"message": "Permintaan telah dikirim ke admin.", "data": data})

    async def status(self, request: Request) -> Response:
        """``POST /complaints/process/{complaint_id}/status`` (JSON ``{status_code, note}``)."""
        body = await _json_body(request)
        note = body.get("note")
        with self.world.lock:
            c = self.world.set_status(
                request.path_params["complaint_id"],
                _int(body.get("status_code"), "status_code"),
                note if isinstance(note, str) else None,
            )
            return _results({"message": "Status laporan diperbarui.", "data": wire.complaint_json(c)})

    async def institutions(self, request: Request) -> Response:
        """``GET /institutions?page=``: the caller's institution and its sub-units."""
        page = _int(request.query_params.get("page"), "page", default=1, minimum=1)
        tree = sorted(
            (i for i in INSTITUTIONS.values() if self.world.institution_id in (i.id, i.parent_id)),
            key=lambda i: i.id,
        )
        rows = [{"id": i.id, "name": i.name, "parent_id": i.parent_id} for i in tree]
        data = rows[(page - 1) * 50 : page * 50]
        return _results(wire.paginator(data, total=len(rows), page=page, per_page=50, path=_path(request), query={}))

    async def categories(self, request: Request) -> Response:
        """``GET /categories``: ``{id, parent_id, name}``, all top level."""
        rows = [{"id": n, "parent_id": 0, "name": name} for n, name in enumerate(CATEGORIES, start=1)]
        return _results(wire.paginator(rows, total=len(rows), page=1, per_page=100, path=_path(request), query={}))

    async def master_institutions(self, request: Request) -> Response:
        """``GET /masters/institutions/external?page_size=&page=``: ``{id, name}`` (CONTRACT §7 G8)."""
        with self.world.lock:
            rows = self.world.masters.institution_rows()
        return self._master_page(request, rows)

    async def reply_templates(self, request: Request) -> Response:
        """``GET /masters/templates?page_size=&page=``: reply templates with ``template_code`` (G8)."""
        with self.world.lock:
            rows = self.world.masters.template_rows()
        return self._master_page(request, rows)

    @staticmethod
    def _master_page(request: Request, rows: list[dict[str, Any]]) -> Response:
        """One page of a master list, paged by ``page_size`` (G8) rather than the inbox's ``per_page``."""
        params = request.query_params
        page = _int(params.get("page"), "page", default=1, minimum=1)
        size = min(
            MAX_MASTERS_PAGE_SIZE, _int(params.get("page_size"), "page_size", default=MASTERS_PAGE_SIZE, minimum=1)
        )
        data = rows[(page - 1) * size : page * size]
        query = {"page_size": str(size)}
        return _results(
            wire.paginator(data, total=len(rows), page=page, per_page=size, path=_path(request), query=query)
        )

    async def token(self, request: Request) -> Response:
        """``POST /oauth2/token``: client credentials grant with HTTP Basic (CONTRACT §1)."""
        if (refusal := self._throttled(request)) is not None:
            return refusal
        if not self.auth.client_authenticated(request.headers.get("authorization")):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        try:
            grant = parse_form(request.headers.get("content-type", ""), await request.body()).fields
        except FormError:
            grant = {}
        if grant.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        body = {
            "access_token": self.auth.tokens.issue(),
            "token_type": "Bearer",
            "expires_in": self.auth.tokens.lifetime,
        }
        return JSONResponse(body)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _error(status, "Not Found." if status == 404 else "Request refused.")


def create_app(
    world: World,
    *,
    credentials: Credentials | None = None,
    rate_limit: float | None = 20.0,
    auth_mode: AuthMode = AuthMode.ANY,
    tokens: AccessTokens | None = None,
    faults: FaultSwitch | None = None,
    save_to: Path | None = None,
    gateway: Gateway | None = None,
) -> Starlette:
    """Build the ASGI app serving ``world``.

    Args:
        world: the state to serve.
        credentials: accepted credentials (default: the fake demo ones).
        rate_limit: requests per second per client, or ``None`` for no limit (CONTRACT §2).
        auth_mode: which authentication modes are accepted (CONTRACT §1).
        tokens: the OAuth2 token store (pass one to revoke tokens from a test).
        faults: holds the fault plan in force, switchable at run time (default: one holding none).
        save_to: the file ``POST /_simulator/save`` writes the world to; ``None``: no such route.
        gateway: an SPLP gateway to put in front (and the sandbox base path and variant paths to
            serve); ``None``: none, the production base path only.
    """
    faults = faults or FaultSwitch()
    tokens = tokens or AccessTokens()
    auth = Authenticator(credentials or Credentials(), tokens, auth_mode)
    api = _Api(world, auth, RateLimiter(rate_limit) if rate_limit is not None else None)
    cid = "{complaint_id:int}"
    contract = [
        ("GET", "/complaints/inbox", api.inbox),
        ("GET", f"/complaints/{cid}/complaint", api.complaint),
        ("GET", f"/complaints/{cid}/followups", api.followups),
        ("POST", "/complaints/followup/add", api.add_followup),
        ("POST", f"/complaints/process/{cid}/reject", api.reject),
        ("POST", f"/complaints/process/{cid}/status", api.status),
        ("GET", "/institutions", api.institutions),
        ("GET", "/categories", api.categories),
        ("GET", "/masters/institutions/external", api.master_institutions),
        ("GET", "/masters/templates", api.reply_templates),
    ]
    bases, suffixes = (tuple(BASE_PATHS.values()), ("", VARIANT_SUFFIX)) if gateway else ((BASE_PATH,), ("",))
    resources: list[BaseRoute] = [
        Route(base + path + suffix, api.guarded(handler), methods=[method])
        for base in bases
        for suffix in suffixes
        for method, path, handler in contract
    ]
    routes = [
        *resources,
        Route(TOKEN_PATH, api.token, methods=["POST"]),
        *simulator_routes(world, faults, save_to),
        *(gateway_routes(gateway) if gateway else []),
    ]
    layers = [Middleware(FaultMiddleware, switch=faults, world=world, tokens=tokens, base_paths=bases)]
    if gateway:  # outermost: the gateway answers before LAPOR! (and its injected faults) sees a request
        layers.insert(0, Middleware(SplpGatewayMiddleware, gateway=gateway, resources=resources))
    return Starlette(routes=routes, middleware=layers, exception_handlers={HTTPException: _http_error})
