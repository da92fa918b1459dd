"""Settings: the database, the national platform, the mapping file and sync tuning, from env and TOML."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import AwareDatetime, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.config.files import problem_text
from lapor_sync.config.sources import FILE_SUFFIX, ConfigFileSource, NotedSource, SecretFileSource, loading
from lapor_sync.config.variables import warn_unknown_variables
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.domain.timezones import WIB

ENV_PREFIX = "LAPOR_SYNC_"
PRODUCTION_BASE_URL = "https://api-splp.layanan.go.id/lapor/3.0.0"  # CONTRACT §1

_SECRETS = frozenset(
    {"api_key", "api_token", "splp_key", "oauth_client_secret", "oauth_password", "web_secret_key", "proxy_url"}
)
# Settings that may come from a file named by LAPOR_SYNC_<NAME>_FILE: secrets, and the database URL's password.
_FROM_FILES = _SECRETS | {"database_url"}
FROM_ENV_FILE = "env-file"  # the value_sources() label of a value read from such a file
# URLs: they may carry a password or a key (in the user part, the query or the fragment).
_URLS = frozenset({"database_url", "api_base_url", "oauth_token_url"})
# Values never echoed in errors: secrets, and URLs that may carry a password before they parse.
_NOT_ECHOED = _SECRETS | _URLS
_NATIONAL_REQUIRED: dict[str, tuple[str, ...]] = {
    "static": ("api_key", "api_token", "institution_id"),
    "splp_key": ("api_key", "api_token", "institution_id", "splp_key"),
    "oauth2": ("api_key", "api_token", "institution_id", "oauth_token_url", "oauth_client_id", "oauth_client_secret"),
}
_GRANT_REQUIRED: dict[str, tuple[str, ...]] = {
    "client_credentials": (),
    "password": ("oauth_username", "oauth_password"),
}
_TABLE_SETTINGS = frozenset({"endpoints"})  # settings that are tables of their own keys
_CLI_VARIABLES = (
    "CONFIG",
    "LOG_LEVEL",
    "LOG_FORMAT",
)  # read by the CLI's global options (lapor_sync/cli/app.py), not by Settings
NESTED_DELIMITER = "__"
"""Joins a table setting and its key in an environment variable: ``LAPOR_SYNC_ENDPOINTS__INBOX``."""
_HEADER_NAME = r"^[A-Za-z0-9-]+$"
# Up to the last "@": a password may hold "/", ":", "@" or spaces, and each parser ends it elsewhere.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):.*@")
HARMLESS_QUERY_KEYS = frozenset(
    {
        # libpq connection parameters that name, place or tune a connection (never password, sslpassword)
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "sslmode",
        "sslnegotiation",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "requirepeer",
        "gssencmode",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "channel_binding",
        "require_auth",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
        "passfile",
        "ssl",
        # SQLite URI parameters, and what SQLAlchemy's pysqlite driver takes from the URL
        "mode",
        "uri",
        "cache",
        "immutable",
        "nolock",
        "psow",
        "vfs",
        "timeout",
        "isolation_level",
        "detect_types",
        "check_same_thread",
        "cached_statements",
    }
)
"""Query keys whose values ``mask_url`` shows: they say where and how to connect, and hold no secret.

``sslcert``, ``sslkey`` and ``passfile`` are paths to files, not their content. Every other key's
value is masked (``password``, ``sslpassword``, ``apikey``, ``access_token``, ``client_secret``,
SQLCipher's ``key``, and any key we do not know).
"""


def env_var(setting: str) -> str:
    """Return the environment variable of a setting: ``auth_mode`` → ``LAPOR_SYNC_AUTH_MODE``.

    A key of a table setting, written ``endpoints.inbox``, → ``LAPOR_SYNC_ENDPOINTS__INBOX``.
    """
    return f"{ENV_PREFIX}{setting.replace('.', NESTED_DELIMITER).upper()}"


def source_variable(setting: str, source: str) -> str:
    """Return the variable that set a setting from ``source`` (a :meth:`Settings.value_sources` label).

    ``("api_key", "env-file")`` → ``LAPOR_SYNC_API_KEY_FILE``; any other source → ``LAPOR_SYNC_API_KEY``.
    """
    return env_var(setting) + (FILE_SUFFIX if source == FROM_ENV_FILE else "")


def mask_url(text: str) -> str:
    """Hide what a URL may carry as a secret, keeping where it leads.

    E.g. ``postgresql://u:pw@h/db?sslpassword=x&sslmode=require`` →
    ``postgresql://u:***@h/db?sslpassword=***&sslmode=require``. The password: everything from the ``:`` after the user to the last ``@``, whatever it holds.
    The query (after the first ``?``): the value of every key not in :data:`HARMLESS_QUERY_KEYS`
    (matched lower-case and percent-decoded), and a part without ``=``, become ``***``; a value
    runs to the next ``&``. A fragment (after ``#``, where OAuth puts tokens) becomes ``***``.
    """
    text = _URL_PASSWORD.sub(r"\g<head>:***@", text)
    head, question, query = text.partition("?")
    if not question:
        return text
    query, hash_mark, _fragment = query.partition("#")
    parts = [_masked_query_part(part) for part in query.split("&")]
    return f"{head}?{'&'.join(parts)}" + ("#***" if hash_mark else "")


def _masked_query_part(part: str) -> str:
    key, equals, value = part.partition("=")
    if not equals:
        return "***" if part else part
    return f"{key}={value if unquote(key).lower() in HARMLESS_QUERY_KEYS else '***'}"


def _secret_in_file(name: str, value: object) -> bool:
    """Tell whether a TOML file may hold setting ``name`` set to ``value`` only when the file is private.

    True for the secrets, and for a URL with something :func:`mask_url` hides (a password,
    ``?sslpassword=``, ``?apikey=``).
    """
    return name in _SECRETS or (name in _URLS and isinstance(value, str) and mask_url(value) != value)


class Settings(BaseSettings):
    """Everything lapor-sync needs to run; sources, highest first: arguments, environment, TOML file.

    Environment variables are ``LAPOR_SYNC_<NAME>`` (any case); an empty variable counts as unset.
    The secrets and the database URL can instead be read from a file named by
    ``LAPOR_SYNC_<NAME>_FILE`` (container secrets: :class:`~lapor_sync.config.sources.SecretFileSource`);
    setting both is a configuration error.

    Attributes:
        database_url: SQLAlchemy URL; the default is ``lapor-sync.db`` in the working directory.
        api_base_url: the national API's base (CONTRACT §1; the simulator serves ``/lapor/3.0.0``).
        auth_mode: ``static`` (API key + app token), ``splp_key`` (those plus the SPLP gateway's API
            key, CONTRACT §7 G5) or ``oauth2`` (an SPLP OAuth2 token), CONTRACT §1.
        api_key: the LAPOR API key (secret).
        api_token: the integrating application's GUID, sent as the ``token`` header (secret).
        auth_header_name: the header carrying the API key in static and splp_key modes (some
            deployments use ``auth``).
        splp_key: the SPLP gateway's API key, a JWT scoped to the LAPOR! API (secret; G5).
        splp_key_header: the header carrying it, as ``Bearer <key>`` (``AuthorizationSPLP`` as seen).
        oauth_token_url, oauth_client_id, oauth_client_secret: SPLP OAuth2 client credentials
            (sent with HTTP Basic).
        oauth_grant_type: ``client_credentials`` or ``password`` (G6); the latter also needs
            oauth_username and oauth_password (secret).
        oauth_token_header: the header the gateway's access token goes in (per API, G6).
        endpoints: every call's path and the list parameters' names (``[national.endpoints]`` in
            the TOML file; :class:`~lapor_sync.config.endpoints.NationalEndpoints`; G7, G8).
        followup_user_id, followup_info_disposition: extra fields of every follow-up post, as a
            public integrator sends them (G9); unset, they are not sent.
        institution_id: the city's national institution id (Palangka Raya: 6271).
        mapping_file: the city mapping TOML; ``None`` uses the packaged ``palangka-raya.toml``.
        http_timeout_seconds: per-request timeout, seconds.
        request_deadline_seconds: wall-clock limit of one attempt of one request, seconds: name
            lookup, connect, TLS, sending and the whole answer together (a body trickled byte by byte
            cannot hold a request longer).
        max_retry_after_seconds: the longest server-given wait (``Retry-After``) honoured, seconds;
            a longer or unreadable-as-a-delay value is cut to this, and the cut is logged.
        allow_insecure_http: allow plain ``http://`` to a host that is not loopback (off: such a URL
            is refused, so credentials never cross a network unencrypted).
        tls_ca_bundle: a PEM file of CA certificates to verify the national platform with (a city
            proxy's CA); ``None`` uses certifi's. Verification itself cannot be turned off.
        proxy_url: the proxy requests to LAPOR! go through (``http://user:password@host:3128``,
            ``socks5://host:1080``), or ``none``/``direct``; wins over ``HTTPS_PROXY``, ``ALL_PROXY``
            and ``NO_PROXY`` (``adapters/national/proxy.py``). A secret: it may carry the proxy's
            password, so ``LAPOR_SYNC_PROXY_URL_FILE`` may name a file holding it.
        max_response_bytes: the largest answer read from the national platform, bytes; a larger one
            is refused before it is parsed.
        overlap_seconds: how far before the cursor each pull starts again (CONTRACT §6), seconds.
        initial_since: where the very first pull starts; aware, kept in UTC (default 2024-01-01 00:00 WIB).
        per_page: inbox page size, 1..100 (CONTRACT §5); a pull stores a page per transaction.
        fetch_concurrency: complaints a pull reads by detail at once (detail and follow-ups), 1..16
            (default 4; 1 reads them one after another). Each read still counts against the
            gateway's per-minute quota (CONTRACT §7): more at once spends it faster, not more of it.
        max_push_attempts: outbox attempts before a push is dead-lettered.
        push_concurrency: outbox rows of different complaints delivered at once (each complaint's
            rows one after the other; every request still counts against the quota, CONTRACT §7).
        open_case_recheck_seconds: how long an open case may go unseen in the inbox before its
            detail is read again (CONTRACT §6: reconcile), seconds.
        recheck_requests_per_cycle, recheck_requests_per_day: requests those rechecks may make in
            one cycle and in one WIB day (default 60 and 1,440: at the 10 requests a minute one SPLP
            client allows itself, CONTRACT §7 G4, 1,440 is a tenth of a day's quota, and 60 spends
            it evenly over the hourly reconcile; the most urgent cases are read first, the rest next cycle).
        set_aside_after_failures: pull runs in a row in which reading one complaint failed (its
            detail or follow-ups answering ``{"results": null}``, garbage or a 5xx from LAPOR!, after
            the retries) before the complaint is set aside and the pull goes on past it, 1..100
            (default 3: at the 300 s pull interval a quarter of an hour of failing, long enough
            that a blip of LAPOR! sets nothing aside). Failures of the platform as a whole never
            count (:mod:`lapor_sync.sync.read_failures`).
        requests_per_minute: the client-side quota, requests a minute to the national API from this
            process, every job together (0: no limit). LAPOR publishes no figure (CONTRACT §7 G12);
            the default, 10, is what one production SPLP client allows itself (G4), and 14,400 a
            day: a city's pulls, pushes and rechecks (the recheck budget is a tenth of it) with room
            to spare, while a first backfill of a year takes hours and resumes where it stopped.
            Raise it to the tier SPLP gives the city's key; the demo and the simulator turn it off.
        requests_per_second: optionally, requests a second too (0, the default: no limit a second;
            the gateway counts per minute, G4).
        quota_wait_seconds: after a throttle answer (429 without ``Retry-After``, WSO2 900800-900807:
            G3), how long no request starts before the one more try, seconds (default 65: the
            minute window and a margin, G4); a second throttle answer stops the run.
        pull_interval_seconds, push_interval_seconds, reconcile_interval_seconds: the worker's job
            intervals, seconds; outbox_watch_seconds: how often it looks for new outbox rows to push.
        sla_check_time, retention_time: daily job times, WIB.
        retention_days: sync events and outbox attempts older than this are pruned.
        purge_after_days: ``lapor-sync purge`` removes reporter identity and content of cases closed
            longer than this, days (default 730, two years; UU 27/2022 asks that personal data be
            kept no longer than needed).
        misfire_grace_seconds: how late a scheduled run may still start; shutdown_timeout_seconds:
            how long SIGTERM waits for the run in flight.
        health_host, health_port: where the worker serves /healthz and /metrics (loopback; 0 = off).
        web_host, web_port: where ``lapor-sync web`` (and ``worker --web``) serves the console (loopback
            by default); web_root_path: the path prefix a reverse proxy serves it under (``/lapor-sync``);
            web_forwarded_allow_ips: proxies whose ``X-Forwarded-For``/``-Proto`` are believed (comma-separated
            addresses, or ``*``); web_language: ``id`` or ``en``, for browsers that ask for neither;
            web_idle_minutes: a console session unused this long ends; web_secret_key: signs session
            cookies (default: a key made once and kept in the database, shared by every console process).
        lease_seconds: how long a job lease lives without renewal (a dead holder's lease expires),
            and how long a pusher's claim on one outbox row lives; lease_wait_seconds: how long a
            manual command waits for a busy lease.
        lease_mode: ``auto`` (a PostgreSQL advisory lock, a lease row on SQLite) or ``row`` (the
            lease row on any engine, expiring by the database's clock: for PostgreSQL behind a
            pooler in transaction mode, where session advisory locks do not hold).
        status_*_seconds: thresholds of ``lapor-sync status``.
        sla_*_working_days: follow-up due after disposition, auto-close expected after the last
            agency follow-up, "due soon" window; extra_non_working_days: dates (cuti bersama by
            decree) on top of the ``holidays`` package's Indonesian calendar.
        export_columns: ``reconcile-export``'s column names, field → header (fields: tracking_id,
            complaint_id, date, title, stakeholder, status), replacing the defaults of
            :data:`lapor_sync.exports.columns.DEFAULT_HEADERS` for the fields named (CONTRACT §7 G11).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="forbid",
        env_ignore_empty=True,
        env_nested_delimiter=NESTED_DELIMITER,
    )

    database_url: str = "sqlite:///lapor-sync.db"
    api_base_url: str = PRODUCTION_BASE_URL
    auth_mode: Literal["static", "splp_key", "oauth2"] = "static"
    api_key: SecretStr | None = None
    api_token: SecretStr | None = None
    auth_header_name: str = Field(default="Authorization", pattern=_HEADER_NAME)
    splp_key: SecretStr | None = None
    splp_key_header: str = Field(default="AuthorizationSPLP", pattern=_HEADER_NAME)
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_grant_type: Literal["client_credentials", "password"] = "client_credentials"
    oauth_username: str | None = None
    oauth_password: SecretStr | None = None
    oauth_token_header: str = Field(default="Authorization", pattern=_HEADER_NAME)
    endpoints: NationalEndpoints = Field(default_factory=NationalEndpoints)
    followup_user_id: str | None = None
    followup_info_disposition: str | None = None
    institution_id: int | None = Field(default=None, ge=1)
    mapping_file: Path | None = None
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    request_deadline_seconds: float = Field(default=60.0, gt=0)
    max_retry_after_seconds: int = Field(default=3600, ge=1)
    allow_insecure_http: bool = False
    tls_ca_bundle: Path | None = None
    proxy_url: SecretStr | None = None
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    overlap_seconds: int = Field(default=300, ge=0)
    initial_since: AwareDatetime = Field(default=datetime(2024, 1, 1, tzinfo=WIB), validate_default=True)
    per_page: int = Field(default=100, ge=1, le=100)
    fetch_concurrency: int = Field(default=4, ge=1, le=16)
    max_push_attempts: int = Field(default=8, ge=1)
    push_concurrency: int = Field(default=4, ge=1, le=32)
    open_case_recheck_seconds: int = Field(default=3600, ge=1)
    recheck_requests_per_cycle: int = Field(default=60, ge=1)
    recheck_requests_per_day: int = Field(default=1440, ge=1)
    set_aside_after_failures: int = Field(default=3, ge=1, le=100)
    requests_per_minute: int = Field(default=10, ge=0)
    requests_per_second: int = Field(default=0, ge=0)
    quota_wait_seconds: float = Field(default=65.0, gt=0, le=3600)
    # The scheduled worker (``lapor-sync worker``).
    pull_interval_seconds: int = Field(default=300, ge=1)
    push_interval_seconds: int = Field(default=60, ge=1)
    outbox_watch_seconds: int = Field(default=5, ge=1)
    reconcile_interval_seconds: int = Field(default=3600, ge=1)
    sla_check_time: time = time(7, 0)
    retention_time: time = time(2, 30)
    retention_days: int = Field(default=180, ge=1)
    purge_after_days: int = Field(default=730, ge=1)
    misfire_grace_seconds: int = Field(default=60, ge=1)
    # Longer than one request may take (http_timeout_seconds), so a run in flight can end cleanly.
    shutdown_timeout_seconds: int = Field(default=45, ge=1)
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=9464, ge=0, le=65535)
    # The web console (``lapor-sync web``, ``worker --web``).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8470, ge=0, le=65535)
    web_root_path: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    web_forwarded_allow_ips: str = "127.0.0.1"
    web_language: Literal["id", "en"] = "id"
    web_idle_minutes: int = Field(default=30, ge=1, le=1440)
    web_secret_key: SecretStr | None = Field(default=None, min_length=32)
    # One runner per job: leases in the database.
    lease_seconds: int = Field(default=120, ge=5)
    lease_wait_seconds: int = Field(default=60, ge=0)
    lease_mode: Literal["auto", "row"] = "auto"
    # Health thresholds for ``lapor-sync status`` (exit 0 healthy, 1 degraded, 2 failing).
    status_pull_degraded_seconds: int = Field(default=900, ge=1)
    status_pull_failing_seconds: int = Field(default=3600, ge=1)
    status_push_degraded_seconds: int = Field(default=600, ge=1)
    status_outbox_oldest_degraded_seconds: int = Field(default=1800, ge=1)
    # Service levels in working days (docs/domain.md "Time limits"; PermenPANRB 62/2018, replaced by 5/2025).
    sla_followup_working_days: int = Field(default=5, ge=1)
    sla_autoclose_working_days: int = Field(default=10, ge=1)
    sla_due_soon_working_days: int = Field(default=1, ge=0)
    extra_non_working_days: list[date] = Field(default_factory=list)
    export_columns: dict[str, str] = Field(default_factory=dict)

    _value_sources: dict[str, str] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        with loading(join=True) as state:
            super().__init__(**values)
        self._value_sources = {
            name: "init" if name.partition(".")[0] in values else state.origins.get(name, "default")
            for name in self._setting_names()
        }

    def _setting_names(self) -> list[str]:
        """Every setting's name; a table setting's keys as ``table.key`` (``endpoints.inbox``), in place of the table."""
        names: list[str] = []
        for name in type(self).model_fields:
            table = getattr(self, name)
            names.extend([f"{name}.{key}" for key in type(table).model_fields] if name in _TABLE_SETTINGS else [name])
        return names

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment (``X`` or ``X_FILE``), then the TOML file of :meth:`load` (no ``.env``)."""
        return (
            init_settings,
            NotedSource(env_settings, "env"),
            NotedSource(SecretFileSource(settings_cls, _FROM_FILES), FROM_ENV_FILE),
            NotedSource(ConfigFileSource(settings_cls, _secret_in_file, _FROM_FILES), "file"),
        )

    @classmethod
    def load(cls, config_file: Path | None = None, **values: Any) -> Settings:
        """Build settings from ``values``, then the environment, then ``config_file``, then defaults.

        Raises:
            pydantic.ValidationError: a value is wrong (use :func:`load_settings` for a one-line error).
            ConfigurationError: ``config_file`` cannot be read or is not TOML; a ``LAPOR_SYNC_*_FILE``
                variable names a file that cannot be used, or is set together with its variable.
        """
        with loading(config_file):
            return cls(**values)

    @field_validator("api_base_url", "oauth_token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return None if value is None else value.rstrip("/")

    @field_validator("export_columns")
    @classmethod
    def _export_columns(cls, value: dict[str, str]) -> dict[str, str]:
        from lapor_sync.exports.columns import check_overrides

        return dict(check_overrides(value))

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+]*://", value):
            raise ValueError("must be a database URL such as sqlite:///lapor-sync.db or postgresql://host/db")
        try:
            host = make_url(value).host or ""
        except (ArgumentError, ValueError):
            return value  # App.db refuses it, without quoting it
        if "@" in host:
            # SQLAlchemy ends the password at its first "@": the rest would be taken for the host
            # name and quoted, password and all, in the driver's "cannot resolve host" error.
            raise ValueError("an '@' in the password must be percent-encoded, as %40")
        return value

    @field_validator("api_key", "api_token", "splp_key", "oauth_client_secret", "oauth_password", "proxy_url")
    @classmethod
    def _one_line(cls, value: SecretStr | None) -> SecretStr | None:
        """Strip surrounding white space (the newline of a Kubernetes secret); refuse anything but printable ASCII.

        Bearer tokens and client secrets are ASCII (RFC 6750 §2.1, RFC 6749 Appendix A); a line break
        in a header value would fail every request as a transport error, far from its cause.
        """
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if not (text.isascii() and text.isprintable()):
            raise ValueError("must be one line of printable ASCII characters")
        return SecretStr(text)

    @field_validator("initial_since")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def masked(self) -> dict[str, str]:
        """Return every setting as display text, safe to print (``config show``).

        Secrets are ``********``, unset values ``(not set)``, passwords in URLs ``***``, and
        ``initial_since`` is shown in WIB. A table setting's keys are shown one by one
        (``endpoints.inbox``).
        """
        shown: dict[str, str] = {}
        for name in self._setting_names():
            table, _, key = name.partition(".")
            value = getattr(getattr(self, table), key) if key else getattr(self, name)
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                shown[name] = "(not set)"
            elif isinstance(value, SecretStr):
                shown[name] = "********"
            elif isinstance(value, datetime):
                shown[name] = value.astimezone(WIB).isoformat()
            elif isinstance(value, list):
                shown[name] = ", ".join(str(item) for item in value) or "(none)"
            else:
                shown[name] = mask_url(str(value))
        return shown

    def value_sources(self) -> dict[str, str]:
        """Return where each setting came from, by setting name.

        A source is ``init``, ``env``, ``env-file`` (the file named by ``LAPOR_SYNC_<NAME>_FILE``),
        ``file`` (the TOML file) or ``default``; a table setting's keys have theirs
        (``endpoints.inbox``).
        """
        return dict(self._value_sources)


def load_settings(config_file: Path | None = None) -> Settings:
    """Load :class:`Settings` from the environment and an optional TOML file.

    A ``LAPOR_SYNC_*`` variable nothing reads (a typo) is a WARNING log line naming the nearest known
    one, not an error (see :mod:`lapor_sync.config.variables`).

    Raises:
        ConfigurationError: with a one-line message naming each wrong setting by its environment
            variable, e.g. ``LAPOR_SYNC_AUTH_MODE: must be 'static', 'splp_key' or 'oauth2', got 'basic'``
            (``LAPOR_SYNC_DATABASE_URL_FILE: ...`` for a value read from that variable's file).
            Secrets and URLs are never echoed. A list or table variable that is not JSON is named too.
    """
    warn_unknown_variables(ENV_PREFIX, known_variables(), [env_var(table) for table in _TABLE_SETTINGS])
    with loading(config_file) as state:
        try:
            return Settings()
        except ValidationError as exc:
            problems = [_setting_problem(error, config_file, state.origins) for error in exc.errors(include_url=False)]
            raise ConfigurationError("; ".join(problems)) from None
        except SettingsError as exc:
            raise ConfigurationError(_unparsed_variable(exc)) from None


def known_variables() -> frozenset[str]:
    """Every ``LAPOR_SYNC_*`` variable lapor-sync reads: each setting's, each table key's, the ``_FILE`` ones, the CLI's."""
    names = {env_var(name) for name in Settings.model_fields}
    names |= {env_var(f"endpoints.{key}") for key in NationalEndpoints.model_fields}
    names |= {env_var(name) + FILE_SUFFIX for name in _FROM_FILES}
    return frozenset(names | {ENV_PREFIX + name for name in _CLI_VARIABLES})


_UNPARSED_FIELD = re.compile(r'field "(?P<name>\w+)"')


def _unparsed_variable(error: SettingsError) -> str:
    """Word pydantic-settings' refusal of a list or table setting's variable that is not JSON, naming the variable.

    The value is not echoed: its variable is named, and it may be long.
    """
    found = _UNPARSED_FIELD.search(str(error))
    variable = env_var(found["name"]) if found else f"a {ENV_PREFIX}* variable"
    return f"{variable}: not valid JSON (a list or table setting set by one variable is written as JSON)"


def _setting_problem(error: Any, config_file: Path | None, origins: dict[str, str]) -> str:
    """Word one validation error of the settings, naming the variable that gave the value."""
    loc = [str(part) for part in error["loc"]] or ["?"]
    # A key of a table setting is named as its variable names it: endpoints.inbox, LAPOR_SYNC_ENDPOINTS__INBOX.
    name = ".".join(loc[:2]) if loc[0] in _TABLE_SETTINGS and len(loc) > 1 else loc[0]
    table, _, key = name.partition(".")
    origin = origins.get(name, origins.get(table, "default"))
    if error["type"] == "extra_forbidden":
        if origin == "env":
            return f"unknown setting '{name}' ({env_var(name)})"
        return f"unknown setting '{name}'" + (f" in {config_file}" if config_file else "")
    variable = source_variable(name, origin)
    if key and origin == "env" and variable not in {known.upper() for known in os.environ}:
        variable = f"{env_var(table)} ({key})"  # the key came in the table's one JSON variable
    return f"{variable}: {problem_text(error, show_input=name not in _NOT_ECHOED)}"


def require_national(settings: Settings) -> None:
    """Check that the settings needed to talk to the national platform are there (CONTRACT §1).

    Static mode needs ``API_KEY``, ``API_TOKEN`` and ``INSTITUTION_ID``; ``splp_key`` also
    ``SPLP_KEY`` (CONTRACT §7 G5); ``oauth2`` also ``OAUTH_TOKEN_URL``, ``OAUTH_CLIENT_ID`` and
    ``OAUTH_CLIENT_SECRET``, and with the ``password`` grant ``OAUTH_USERNAME`` and ``OAUTH_PASSWORD`` (G6).

    Raises:
        ConfigurationError: one line naming every missing setting as its environment variable.
    """
    needed = _NATIONAL_REQUIRED[settings.auth_mode]
    if settings.auth_mode == "oauth2":
        needed += _GRANT_REQUIRED[settings.oauth_grant_type]
    missing = [env_var(name) for name in needed if _unset(getattr(settings, name))]
    if missing:
        raise ConfigurationError(
            f"cannot reach the national platform in auth mode '{settings.auth_mode}': set {', '.join(missing)}"
        )


def _unset(value: object) -> bool:
    """True for ``None``, an empty string and an empty secret."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())
