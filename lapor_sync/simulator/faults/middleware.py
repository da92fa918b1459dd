"""The ASGI layer that applies the fault plan to the contract's endpoints (never to admin or token URLs).

Per contract request, in this order: maybe expire the caller's OAuth2 token, maybe wait, maybe answer
instead of the endpoint (an HTTP error, a reset, a silence), maybe update a complaint on an earlier
inbox page; then the endpoint runs; then a write may lose its answer (it stays applied), a 200 may
lose its data, and the answer's JSON copy may get an odd page, malformed records and shifted clock
readings. See :mod:`lapor_sync.simulator.faults.plan` for the kinds.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lapor_sync.simulator.auth import AccessTokens
from lapor_sync.simulator.faults.plan import (
    BAD_BODY_KINDS,
    LOST_WRITE_KINDS,
    PAGE_KINDS,
    PRE_ANSWER_KINDS,
    RECORD_KINDS,
    Draws,
    FaultKind,
    FaultPlan,
    FaultSwitch,
)
from lapor_sync.simulator.faults.wire import (
    bad_body,
    dumps,
    malform_record,
    page_fault,
    pre_answer,
    shift_timestamps,
    shift_wire_time,
)
from lapor_sync.simulator.paths import VARIANT_SUFFIX, page_size_name
from lapor_sync.simulator.wire import parse_wib
from lapor_sync.simulator.world import World

Headers = list[tuple[bytes, bytes]]
_VARIANT = f"(?:{re.escape(VARIANT_SUFFIX)})?$"  # the same endpoint under its variant path (CONTRACT §7 G7)
_RECORD_ENDPOINTS = {
    "inbox": re.compile(r"/complaints/inbox" + _VARIANT),
    "detail": re.compile(r"/complaints/\d+/complaint" + _VARIANT),
    "followups": re.compile(r"/complaints/\d+/followups" + _VARIANT),
    "followup_add": re.compile(r"/complaints/followup/add" + _VARIANT),
}


@dataclass(frozen=True, slots=True)
class _Request:
    """What the fault decisions need to know about one contract request."""

    method: str
    endpoint: str | None  # a key of _RECORD_ENDPOINTS, or None for the other endpoints
    query: dict[str, str]
    bearer: str | None

    @classmethod
    def of(cls, scope: Scope) -> _Request:
        path = scope["path"]
        endpoint = next((name for name, pattern in _RECORD_ENDPOINTS.items() if pattern.search(path)), None)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        scheme, _, credential = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1").partition(" ")
        return cls(scope["method"], endpoint, query, credential.strip() if scheme.lower() == "bearer" else None)

    def page_number(self, name: str, default: int) -> int | None:
        """Read a positive integer query parameter; ``None`` when it is not one."""
        text = self.query.get(name)
        return default if not text else (int(text) if text.isdigit() and int(text) > 0 else None)


async def _drop(receive: Receive, *, reset: bool) -> None:
    """Close the client's connection without an answer: a TCP reset, or a plain close.

    Needs uvicorn, whose ``receive`` is a method of the request cycle holding the transport.

    Raises:
        ConnectionAbortedError: under another server (e.g. an in-process ASGI transport).
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionAbortedError("the simulator dropped the connection")
    sock = transport.get_extra_info("socket")
    if reset and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    transport.abort()
    # Let connection_lost mark the cycle disconnected, or uvicorn would log and send a 500 of its own.
    for _ in range(100):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)


async def _run_buffered(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, Headers, bytes]:
    """Run the endpoint and keep its whole answer instead of sending it."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return start["status"], list(start.get("headers", [])), b"".join(chunks)


async def _send(send: Send, status: int, headers: Headers, body: bytes, content_type: str | None = None) -> None:
    dropped = {b"content-length", *((b"content-type",) if content_type else ())}
    kept = [(key, value) for key, value in headers if key.lower() not in dropped]
    kept += [(b"content-length", str(len(body)).encode())]
    kept += [(b"content-type", content_type.encode())] if content_type else []
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body})


class FaultMiddleware:
    """Applies the plan in force in ``switch`` to requests under ``base_path``.

    Args:
        app: the simulator's app.
        switch: the current plan; ``None`` or an inactive plan leaves requests untouched.
        world: the world, for page drift and the server's "now".
        tokens: the OAuth2 token store, for early expiry.
        base_paths: the contract's path prefixes (production, and sandbox behind a gateway); other
            paths (admin, token URL) pass through.
    """

    def __init__(
        self, app: ASGIApp, *, switch: FaultSwitch, world: World, tokens: AccessTokens, base_paths: tuple[str, ...]
    ) -> None:
        self.app = app
        self.switch = switch
        self.world = world
        self.tokens = tokens
        self.prefixes = tuple(base.rstrip("/") + "/" for base in base_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call, with the faults the plan decides for it when it is a contract request."""
        plan = self.switch.plan
        if (
            scope["type"] != "http"
            or plan is None
            or not plan.active
            or not scope["path"].startswith(self.prefixes)
            or not plan.targets(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        request, draws = _Request.of(scope), plan.next_request()
        settings = plan.settings

        def count(kind: FaultKind) -> None:
            self.switch.record(plan, kind)

        await self._expire_token_or_wait(request, draws, plan, count)
        if (instead := draws.first(PRE_ANSWER_KINDS)) is not None:
            count(instead)
            await self._answer_instead(instead, draws, plan, receive, send)
            return
        if settings.clock_offset_minutes and "updated_since" in request.query:
            scope = self._since_on_true_clock(scope, request, settings.clock_offset_minutes)
        if draws.fires(FaultKind.PAGE_DRIFT, request.endpoint == "inbox") and self._drift(request, draws):
            count(FaultKind.PAGE_DRIFT)
        status, headers, body = await _run_buffered(self.app, scope, receive)
        if (lost := draws.first(LOST_WRITE_KINDS, request.method == "POST" and status == 200)) is not None:
            count(lost)  # the write is applied; only its answer goes
            await self._lose_answer(lost, plan, receive)
            return
        if status == 200 and (empty := draws.first(BAD_BODY_KINDS)) is not None:
            count(empty)
            content_type, body = bad_body(empty)
            await _send(send, status, headers, body, content_type)
            return
        if status == 200:
            body = self._spoil(body, request, draws, plan, count)
        await _send(send, status, headers, body)

    async def _expire_token_or_wait(
        self, request: _Request, draws: Draws, plan: FaultPlan, count: Callable[[FaultKind], None]
    ) -> None:
        """Maybe expire the caller's OAuth2 token early, maybe wait ``slow_seconds``; the request goes on."""
        if request.bearer and draws.fires(FaultKind.TOKEN_EXPIRY, self.tokens.valid(request.bearer)):
            self.tokens.revoke(request.bearer)
            count(FaultKind.TOKEN_EXPIRY)
        if draws.fires(FaultKind.SLOW):
            count(FaultKind.SLOW)
            await asyncio.sleep(plan.settings.slow_seconds)

    async def _answer_instead(
        self, kind: FaultKind, draws: Draws, plan: FaultPlan, receive: Receive, send: Send
    ) -> None:
        """Answer without reaching the endpoint: an HTTP error, a reset, or silence then a close."""
        if kind is FaultKind.CONNECTION_RESET:
            await _drop(receive, reset=True)
        elif kind is FaultKind.READ_TIMEOUT:
            await asyncio.sleep(plan.settings.timeout_seconds)
            await _drop(receive, reset=False)
        else:
            status, headers, body = pre_answer(kind, draws.rng, plan.settings, self.world.clock.now())
            raw = [(key.encode(), value.encode()) for key, value in headers.items()]
            await _send(send, status, raw, body)

    @staticmethod
    async def _lose_answer(kind: FaultKind, plan: FaultPlan, receive: Receive) -> None:
        """Send no answer to an applied write: a reset at once, or silence for ``timeout_seconds`` then a close."""
        if kind is FaultKind.WRITE_LOST_TIMEOUT:
            await asyncio.sleep(plan.settings.timeout_seconds)
        await _drop(receive, reset=kind is FaultKind.WRITE_LOST_DROP)

    @staticmethod
    def _since_on_true_clock(scope: Scope, request: _Request, offset: int) -> Scope:
        """Read ``updated_since`` as the wrong server clock would: shifted back by the offset."""
        query = {**request.query, "updated_since": shift_wire_time(request.query["updated_since"], -offset)}
        return {**scope, "query_string": urlencode(query).encode("latin-1")}

    def _drift(self, request: _Request, draws: Draws) -> bool:
        """Update one complaint on the inbox pages before the requested one (CONTRACT §2, page drift)."""
        page, per_page = request.page_number("page", 1), request.page_number(page_size_name(request.query), 20)
        since_text = request.query.get("updated_since")
        try:
            since = parse_wib(since_text) if since_text else None
        except ValueError:
            return False
        if page is None or per_page is None or page < 2:
            return False
        earlier = self.world.inbox_ids(since, (page - 1) * min(per_page, 100))
        if not earlier:
            return False
        self.world.touch(draws.rng.choice(earlier))
        return True

    def _spoil(
        self, body: bytes, request: _Request, draws: Draws, plan: FaultPlan, count: Callable[[FaultKind], None]
    ) -> bytes:
        """Apply page faults, malformed records and the clock offset to a copy of a 200's JSON body."""
        page_kind = draws.first(PAGE_KINDS)
        records_may_fail = request.endpoint is not None and any(plan.rates.get(k) for k in RECORD_KINDS)
        offset = plan.settings.clock_offset_minutes
        if page_kind is None and not records_may_fail and not offset:
            return body
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        results = parsed.get("results") if isinstance(parsed, dict) else None
        if not isinstance(results, dict):
            return body
        if page_kind is not None and "next_page_url" in results and page_fault(results, page_kind, draws.rng):
            count(page_kind)
        if records_may_fail:
            data = results.get("data")
            for record in data if isinstance(data, list) else [data]:
                kind = draws.record_fault(RECORD_KINDS)
                if isinstance(record, dict) and kind and malform_record(record, kind, draws.rng, plan.settings):
                    count(kind)
        if offset:
            parsed = shift_timestamps(parsed, offset)
            count(FaultKind.CLOCK_SKEW)
        return dumps(parsed)
