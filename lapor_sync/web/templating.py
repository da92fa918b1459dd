"""Jinja2 templates for the console: one environment per language, everything escaped, and ``render``.

Templates see: ``_``/``gettext``/``ngettext`` (the request's language), ``user`` (or ``None``),
``can(role)``, ``csrf_field()``, ``url(path)`` (the path under the proxy's root path), ``static(name)``,
``language``, ``notice``, ``path`` (this page with its query, for the language chooser),
``query(**params)`` (a URL query string of the non-blank ones: pagers keep the filters), and the
filters ``long_date`` and ``date_time`` (WIB), ``tenths`` (one decimal, as the language writes it),
``say`` (a health reason in the page's language) and ``age`` (seconds, as ``status`` says them).
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from lapor_sync.accounts.roles import Role
from lapor_sync.reports.health import say_age
from lapor_sync.reports.reasons import Reason
from lapor_sync.web.i18n import Language, date_time, long_date, tenths, translations
from lapor_sync.web.middleware import console_state


@cache
def environment(language: Language) -> Environment:
    """The template environment speaking ``language`` (built once per language, then shared by threads)."""
    env = Environment(
        loader=PackageLoader("lapor_sync.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["long_date"] = partial(long_date, language=language)
    env.filters["date_time"] = partial(date_time, language=language)
    env.filters["tenths"] = partial(tenths, language=language)
    env.filters["say"] = partial(say, language=language)
    env.filters["age"] = partial(age, language=language)
    return env


def say(text: object, language: Language) -> object:
    """A :class:`~lapor_sync.reports.reasons.Reason` in ``language``; anything else as it is (the ``say`` filter)."""
    return text.translated(translations(language)) if isinstance(text, Reason) else text


def age(seconds: int | None, language: Language) -> object:
    """An age in seconds as :func:`~lapor_sync.reports.health.say_age` says it, in ``language`` (the ``age`` filter).

    A negative age (stamped in the future) says this host's clock is behind instead.
    """
    if seconds is not None and seconds < 0:
        return say(Reason("in the future: check this host's clock"), language)
    return say(say_age(seconds), language)


def refusal(request: Request, exc: Exception) -> str:
    """A service's refusal in the request's language: its :class:`Reason` translated, any other text as it came."""
    reason = exc.args[0] if exc.args else None
    return str(say(reason, console_state(request).language)) if isinstance(reason, Reason) else str(exc)


def url(request: Request, path: str) -> str:
    """``path`` (absolute, e.g. ``/cases/12``) under the root path the console is served at behind a proxy."""
    return f"{request.scope.get('root_path', '').rstrip('/')}{path}"


def local_path(request: Request) -> str:
    """The request's path without the root path it is served under behind a proxy (``/cases/12``)."""
    root = request.scope.get("root_path", "").rstrip("/")
    path = request.url.path
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def page_address(request: Request) -> str:
    """Where the language chooser comes back to: this page with its query (filters, page), under no root path.

    A page answering a form's POST (an action refused) cannot be fetched again by GET, so the chooser
    goes to the dashboard from there instead of to a 405.
    """
    if request.method != "GET":
        return "/"
    query = request.url.query
    return f"{local_path(request)}?{query}" if query else local_path(request)


def is_api(request: Request) -> bool:
    """Whether ``request`` came to a JSON twin (``/api/v1/...``) rather than a page."""
    return local_path(request).startswith("/api/")


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` for ``request`` in its language, with the console's globals (see the module docstring)."""
    state = console_state(request)
    user = getattr(request.state, "user", None)
    page = environment(state.language).get_template(template)
    html = page.render(
        request=request,
        user=user,
        can=lambda role: user is not None and user.role.at_least(Role(role)),
        csrf_field=lambda: Markup(f'<input type="hidden" name="csrf_token" value="{escape(state.session.csrf)}">'),
        csrf_token=state.session.csrf,
        url=partial(url, request),
        static=lambda name: url(request, f"/static/{name}"),
        language=state.language,
        notice=state.notice,
        path=page_address(request),
        query=query_string,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def query_string(**params: Any) -> str:
    """``params`` as a URL query string, leaving out blank ones: ``query(before=9, agency=None)`` -> ``before=9``."""
    return urlencode({name: value for name, value in params.items() if value not in (None, "")})


def redirect_after(request: Request, path: str, notice: str | None = None) -> RedirectResponse:
    """Answer a form's POST with 303 to ``path`` (under the root path), showing ``notice`` there once.

    ``notice`` travels in a signed cookie: keep reporters' data and secrets out of it.
    """
    if notice is not None:
        console_state(request).next_notice = notice
    return RedirectResponse(url(request, path), status_code=303)


def translate(request: Request, message: str, **values: Any) -> str:
    """``message`` in the request's language, with ``values`` put in (``%(name)s`` placeholders)."""
    text = translations(console_state(request).language).gettext(message)
    return text % values if values else text
