"""The doctor's first step: the settings load and validate, the mapping file agrees, the database answers.

Nothing is written: a SQLite file that does not exist yet is not created, and the database is only
asked whether lapor-sync's schema is there (a read). A failure here means the doctor cannot go on
(exit 2, as ``lapor-sync status`` exits when it cannot read the database).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from lapor_sync.app import App
from lapor_sync.checks.doctor.network import Target, bounded
from lapor_sync.checks.doctor.result import Check, Step
from lapor_sync.domain.errors import ConfigurationError

SETTINGS_FIX = "correct that setting: `lapor-sync config show` lists each one and where it came from"
DATABASE_FIX = (
    "check LAPOR_SYNC_DATABASE_URL: the server is up and reachable from here, and the URL's host, port, "
    "user and database are right"
)


@dataclass(frozen=True)
class Prepared:
    """What the later steps need, worked out from valid settings.

    Attributes:
        app: the composition root on those settings (its mapping loaded).
        target: where the national client connects (base URL's host and port, or the proxy).
        tls: the TLS context the client verifies the gateway with (unused for plain http).
    """

    app: App
    target: Target
    tls: ssl.SSLContext


def check_settings(config_file: Path | None, *, timeout: float) -> tuple[Check, Prepared | None]:
    """Step 1: load and validate the settings, the mapping file, the national client's set-up, the database.

    Args:
        config_file: the ``--config`` TOML file, or ``None``.
        timeout: the longest wait for the database to answer, seconds.

    Returns:
        The check, and what the later steps need (``None`` when it failed).
    """
    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from lapor_sync.adapters.national import config
    from lapor_sync.config.settings import load_settings, require_national
    from lapor_sync.storage.faults import database_fault

    try:
        settings = load_settings(config_file)
        require_national(settings)
        app = App(settings, purpose="doctor")
        institution = app.mapping.institution
        base_url = config.base_url_from_settings(settings)
        config.auth_from_settings(settings, clock=app.clock)
        policy = config.outbound_from_settings(settings)
        database = bounded(lambda: _database_state(app), timeout, "the database (LAPOR_SYNC_DATABASE_URL)")
    except ConfigurationError as exc:
        return Check.failed(Step.SETTINGS, str(exc), SETTINGS_FIX), None
    except TimeoutError as exc:
        return Check.failed(Step.SETTINGS, str(exc), DATABASE_FIX), None
    except SQLAlchemyError as exc:
        reason = database_fault(exc, name_the_file=True) or type(exc).__name__
        return Check.failed(
            Step.SETTINGS, f"LAPOR_SYNC_DATABASE_URL: cannot use the database: {reason}", DATABASE_FIX
        ), None
    target = Target.of(base_url, policy.proxy_for(httpx.URL(base_url)))
    detail = (
        f"auth mode {settings.auth_mode}, institution {institution.id} ({institution.name}), "
        f"mapping {settings.mapping_file or 'packaged palangka-raya.toml'}, database {database}"
    )
    return Check.passed(Step.SETTINGS, detail), Prepared(app, target, policy.tls or _default_trust())


def _default_trust() -> ssl.SSLContext:
    """The CAs httpx trusts when no bundle is configured (certifi's, or ``SSL_CERT_FILE``), as the client does."""
    import httpx

    return httpx.create_ssl_context()


def _database_state(app: App) -> str:
    """Say where the database is and whether lapor-sync's schema is there, reading only.

    Raises:
        ConfigurationError: the URL is not usable (see ``App.db``).
        SQLAlchemyError: the database cannot be reached or read.
    """
    from sqlalchemy.engine import make_url

    url = make_url(app.settings.database_url)  # App.db has refused a URL this cannot parse
    kind = url.get_backend_name()
    if kind == "sqlite":
        name = url.database or ""
        if name and name != ":memory:" and not name.startswith("file:") and not Path(name).exists():
            return f"sqlite {name}: no file yet (the first `lapor-sync sync` or `db upgrade` creates it)"
        where = f"sqlite {name or '(in memory)'}"
    else:
        where = f"{kind} at {url.host or 'localhost'}" + (f":{url.port}" if url.port else "") + f"/{url.database or ''}"
    app.db  # noqa: B018 - built first: its errors name the setting and never quote the URL
    try:
        current = app.db.is_current()
    finally:
        app.db.dispose()
    return f"{where}: " + ("schema in place" if current else "reachable, no schema yet (`lapor-sync db upgrade`)")
