"""The console's ASGI application: pages, their JSON twins under ``/api/v1``, static files, error pages.

Every page ``/X`` has its twin ``/api/v1/X`` built from the same service call (STYLE.md: Datasette),
so what a person sees and what the city's dashboards read cannot drift apart. The API is described by
OpenAPI at ``/api/v1/openapi.json``; no interactive docs page is served, as those load their scripts
from a CDN.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from lapor_sync.app import App
from lapor_sync.domain.clock import Clock
from lapor_sync.storage.faults import database_fault
from lapor_sync.web.context import Console
from lapor_sync.web.i18n import Language
from lapor_sync.web.middleware import ConsoleMiddleware
from lapor_sync.web.pages import ROUTERS
from lapor_sync.web.secret import signing_key
from lapor_sync.web.security import CsrfRefused, NotAllowed, NotSignedIn, verify_csrf
from lapor_sync.web.sessions import SessionCodec
from lapor_sync.web.templating import is_api, local_path, render, translate, url

API_PREFIX = "/api/v1"


def create_console(app: App, *, clock: Clock | None = None) -> FastAPI:
    """The console for ``app``'s settings and database (migrated here, as ``sync`` does).

    Args:
        app: the composition root, the same one the CLI builds.
        clock: "now" for sessions, audit and throttling (default: the app's clock).

    Raises:
        ConfigurationError: the database or the mapping file cannot be used.
    """
    clock = clock or app.clock
    services = Console(app, clock)
    settings = app.settings
    key = signing_key(settings, services.db, clock)
    console = FastAPI(
        title="lapor-sync console API",
        version="1",
        description="Reads and actions of the lapor-sync console, for the city's own dashboards. "
        "Authenticate with `Authorization: Bearer <token>` (`lapor-sync user token NAME`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    console.state.console = services
    for router, api in ROUTERS:
        console.include_router(router, include_in_schema=False)
        if api is not None:
            console.include_router(api, prefix=API_PREFIX)
    console.mount("/static", StaticFiles(packages=[("lapor_sync.web", "static")]), name="static")
    _handle_errors(console)
    _handle_database_faults(console)
    console.add_middleware(
        ConsoleMiddleware,
        codec=SessionCodec(key, clock, idle_seconds=settings.web_idle_minutes * 60),
        clock=clock,
        default_language=Language(settings.web_language),
        notice_key=key,
    )
    return console


def _handle_errors(console: FastAPI) -> None:
    """Error answers: JSON under ``/api/v1``, a page in the browser's language elsewhere."""

    @console.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if is_api(request):
            return JSONResponse({"error": "not signed in: send Authorization: Bearer <token>"}, status_code=401)
        target = local_path(request) + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(url(request, "/sign-in") + f"?next={_quote(target)}", status_code=303)

    @console.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        message = translate(request, "Your role may not do this; it needs the role %(role)s.", role=exc.needed.value)
        return _error(request, 403, message)

    @console.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        message = translate(request, "The form had expired or did not come from this console; open the page again.")
        return _error(request, 403, message)

    @console.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error(request, 404, translate(request, "No such page or record."))
        return _error(request, exc.status_code, str(exc.detail))

    @console.exception_handler(OverflowError)
    @console.exception_handler(DataError)
    async def id_out_of_range(request: Request, _exc: Exception) -> Response:
        # An id or `before` beyond the database's integers (SQLite: OverflowError; PostgreSQL: "integer
        # out of range") names no record: the same answer as any id that names none.
        return _error(request, 404, translate(request, "No such page or record."))

    @console.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()[:5])
        return _error(request, 422, translate(request, "Some input was not valid: %(problems)s", problems=problems))


def _handle_database_faults(console: FastAPI) -> None:
    """A database that cannot be used (a full disk, read-only, unreachable): a 503 saying so, not a 500."""

    @console.exception_handler(DBAPIError)
    @console.exception_handler(PoolTimeout)
    async def database_failing(request: Request, exc: Exception) -> Response:
        # A full disk, a read-only or unreachable database: said as such (503), not "Internal Server Error".
        fault = database_fault(exc)
        if fault is None:
            raise exc  # a bug: the server's 500, with its traceback in the service log
        message = translate(
            request,
            "The database cannot be used (LAPOR_SYNC_DATABASE_URL): %(fault)s. Try again once it is fixed.",
            fault=fault,
        )
        return _error(request, 503, message)


def _error(request: Request, status: int, message: str) -> Response:
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", status_code=status, title=translate(request, "Not possible"), message=message)


def _quote(path: str) -> str:
    return quote(path, safe="/")
