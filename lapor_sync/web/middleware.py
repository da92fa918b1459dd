"""Per-request state the pages share: the browser's session, its language, a one-shot notice.

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: that one buffers the response in
ways that break server-sent events (the live event tail) and cancels background work on disconnect.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lapor_sync.runtime.loopback import is_loopback
from lapor_sync.web.headers import protect
from lapor_sync.web.i18n import Language, negotiate
from lapor_sync.web.sessions import COOKIE, ConsoleSession, SessionCodec

if TYPE_CHECKING:
    from lapor_sync.domain.clock import Clock

LANGUAGE_COOKIE = "lapor_sync_lang"
NOTICE_COOKIE = "lapor_sync_notice"
NOTICE_SALT = "lapor-sync console notice"
NOTICE_MAX_CHARS = 300


class ConsoleState:
    """What the middleware puts on ``request.state.console``: read by pages, changed by sign-in and actions.

    Attributes:
        session: this browser's session (a fresh signed-out one when it had none).
        language: the language pages speak to it.
        notice: a message left by the previous request (after an action's redirect), shown once.
        changed: set by a page that changed ``session`` (sign-in, sign-out): the cookie is rewritten.
        next_notice: set by a page to show a message after its redirect (no personal data: it sits in a cookie).
    """

    def __init__(self, session: ConsoleSession, language: Language, notice: str | None, *, fresh: bool) -> None:
        self.session = session
        self.language = language
        self.notice = notice
        self.changed = fresh
        self.next_notice: str | None = None

    def replace_session(self, session: ConsoleSession) -> None:
        """Make ``session`` this browser's (sign-in, sign-out); its cookie is written with the answer."""
        self.session = session
        self.changed = True


class ConsoleMiddleware:
    """Reads the session, language and notice cookies into :class:`ConsoleState`, and writes them back.

    Args:
        app: the console's routes.
        codec: signs and checks session cookies.
        clock: "now", for fresh sessions.
        default_language: setting ``web_language``.
        notice_key: key signing the notice cookie (the session key).
    """

    def __init__(
        self, app: ASGIApp, *, codec: SessionCodec, clock: Clock, default_language: Language, notice_key: str
    ) -> None:
        self.app = app
        self._codec, self._clock, self._default = codec, clock, default_language
        self._notices = URLSafeSerializer(notice_key, salt=NOTICE_SALT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with its :class:`ConsoleState`; pass lifespan and websockets through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        session = self._codec.read(cookies.get(COOKIE))
        fresh = session is None
        if session is None:
            session = ConsoleSession.fresh(self._clock.now())
        headers = dict(scope["headers"])
        language = negotiate(
            cookies.get(LANGUAGE_COOKIE), headers.get(b"accept-language", b"").decode("latin-1"), self._default
        )
        state = ConsoleState(session, language, self._notice(cookies.get(NOTICE_COOKIE)), fresh=fresh)
        scope.setdefault("state", {})["console"] = state
        secure = _secure(scope)
        static = _static(scope)  # now: mounting /static rewrites the scope's paths on the way in

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                protect(headers, static=static)
                self._set_cookies(headers, state, secure, had_notice=NOTICE_COOKIE in cookies)
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _notice(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return str(self._notices.loads(cookie))[:NOTICE_MAX_CHARS]
        except BadSignature:
            return None

    def _set_cookies(self, headers: MutableHeaders, state: ConsoleState, secure: bool, *, had_notice: bool) -> None:
        attributes = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
        touched = None if state.changed else self._codec.touched(state.session)
        if state.changed or touched is not None:
            value = self._codec.write(touched or state.session)
            headers.append("set-cookie", f"{COOKIE}={value}{attributes}")
        if state.next_notice is not None:
            value = self._notices.dumps(state.next_notice[:NOTICE_MAX_CHARS])
            headers.append("set-cookie", f"{NOTICE_COOKIE}={value}{attributes}")
        elif had_notice:
            headers.append("set-cookie", f"{NOTICE_COOKIE}=; Max-Age=0{attributes}")


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope["headers"]:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed header: no cookies, a signed-out visitor
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _static(scope: Scope) -> bool:
    """Whether the request is for one of the console's static files (``/static/...`` under the root path)."""
    root = str(scope.get("root_path", "")).rstrip("/")
    path = str(scope.get("path", ""))
    return path.startswith(f"{root}/static/") or path.startswith("/static/")


def _secure(scope: Scope) -> bool:
    """Whether cookies get ``Secure``: always, except over plain HTTP to a loopback address (a browser on this host)."""
    server = scope.get("server") or ("", 0)
    return scope.get("scheme") == "https" or not is_loopback(str(server[0]))


def console_state(scope_or_request: object) -> ConsoleState:
    """The :class:`ConsoleState` of a request (set by :class:`ConsoleMiddleware`)."""
    return scope_or_request.state.console  # type: ignore[attr-defined]
