"""The secret search: after whole syncs with recognisable credentials, no secret is anywhere.

The credentials (API key, app token, OAuth2 client, the access tokens the simulator issued, the
database password, and wrong ones tried on the way) are searched for, in every form an HTTP client
could put them in, through every log record of every logger, every cell of every table, the output
of every read command, the simulator's own output, and every URL the simulator was asked for. The
runs include failures (a refused API key, a refused OAuth2 client, HTTP 500 on every write, wrong
settings, an unreachable database), so error texts are searched too.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from lapor_sync.adapters.national import config as national_config
from lapor_sync.cli.app import app
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.runtime.logs import LogLevel, configure_logging
from lapor_sync.simulator import AuthMode, Credentials, Simulator
from lapor_sync.simulator.app import TOKEN_PATH
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.faults.plan import FaultPlan
from lapor_sync.simulator.model import Counters
from lapor_sync.simulator.world import World
from lapor_sync.storage.database import Database
from tests.support.e2e import CITY, DAY_ONE, DINSOS
from tests.support.secret_search import assert_no_secret, basic_auth, capture_all_logs, table_cells
from tests.support.splp import splp_key

pytestmark = pytest.mark.e2e

API_KEY = "apikey-Q7xK2-leakcheck"
APP_TOKEN = "{7e5a1c0d-51e7-4c2a-9b3f-5ec2e7ab6271}"
CLIENT_ID = "clientid-Rm4Tq-leakcheck"
CLIENT_SECRET = "clientsecret-Vz8Np-leakcheck"
DB_PASSWORD = "dbpass-Hs3Lw-leakcheck"
WRONG_API_KEY = "wrongkey-Jd6Ye-leakcheck"
WRONG_CLIENT_SECRET = "wrongsecret-Pc2Gu-leakcheck"
SPLP_KEY = splp_key("SANDBOX", jti="splpkey-Wb5Rz-leakcheck")  # a SANDBOX key on the production path: warned of
HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.http11", "httpcore.connection")
# Read commands whose output is searched (the writing ones are searched as they run).
READ_COMMANDS = (
    ("status", "--json"),
    ("runs", "--json", "--limit", "100"),
    ("log", "--json", "--limit", "10000"),
    ("outbox", "--json"),
    ("outbox", "--state", "delivered", "--json"),
    ("set-aside", "--all", "--json"),
    ("case", "list", "--json"),
    ("report", "--from", "2024-01-01", "--to", "2024-12-31", "--json"),
    ("sla", "--json"),
    ("db", "upgrade"),
    ("runs",),
    ("log",),
    ("outbox",),
    ("case", "list"),
    ("status",),
)
CONFIG_COMMANDS = (("config", "show"), ("config", "show", "--json"))
Run = Callable[..., str]


@pytest.fixture(autouse=True)
def lapor_sync_logger_restored() -> Iterator[None]:
    """The CLI and ``configure_logging`` set the ``lapor_sync`` logger up globally: put it back afterwards."""
    logger = logging.getLogger("lapor_sync")
    level, handlers = logger.level, logger.handlers[:]
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def secrets_to_find(auth_mode: str) -> dict[str, str]:
    """Label -> value of every credential this test hands out (the app token without its braces)."""
    found = {
        "API key": API_KEY,
        "app token": APP_TOKEN.strip("{}"),
        "wrong API key": WRONG_API_KEY,
        "database password": DB_PASSWORD,
    }
    if auth_mode == "splp_key":
        found |= {"SPLP key": SPLP_KEY}
    if auth_mode == "oauth2":
        found |= {
            "OAuth2 client id": CLIENT_ID,
            "OAuth2 client secret": CLIENT_SECRET,
            "HTTP Basic client credentials": basic_auth(CLIENT_ID, CLIENT_SECRET),
            "wrong OAuth2 client secret": WRONG_CLIENT_SECRET,
            "wrong HTTP Basic client credentials": basic_auth(CLIENT_ID, WRONG_CLIENT_SECRET),
        }
    return found


def simulator(auth_mode: str) -> tuple[Simulator, list[str], list[str]]:
    """A simulator that accepts only this test's credentials in ``auth_mode``, with three complaints.

    In ``splp_key`` mode it checks LAPOR's key and token as in static mode (no gateway in front).

    Returns it, the list its OAuth2 access tokens are noted in as they are issued, and the list of
    every URL (path and query) it is asked for.
    """
    world = World(ManualClock(DAY_ONE), [], Counters(), reply_rate=0.0)
    credentials = Credentials(api_key=API_KEY, app_token=APP_TOKEN, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sim = Simulator(
        world, rate_limit=None, credentials=credentials, auth_mode=AuthMode(auth_mode.replace("splp_key", "static"))
    )
    for _ in range(2):
        world.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
    world.add_complaint()  # to the city as a whole: routed by category, or to triage
    issued: list[str] = []
    issue = sim.tokens.issue

    def noting() -> str:
        issued.append(issue())
        return issued[-1]

    sim.tokens.issue = noting  # type: ignore[method-assign]
    urls: list[str] = []
    served = sim.app

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            urls.append(f"{scope['method']} {scope['path']}?{scope['query_string'].decode('latin-1')}")
        await served(scope, receive, send)

    sim.app = recording  # type: ignore[assignment]
    return sim, issued, urls


def database_url(database: Database) -> str:
    """The test database's URL; on PostgreSQL with :data:`DB_PASSWORD` (trust auth ignores it)."""
    url = make_url(database.url)
    if url.get_backend_name() == "postgresql":
        url = url.set(password=DB_PASSWORD)
    return url.render_as_string(hide_password=False)


def secret_file(tmp_path: Path, name: str, value: str) -> str:
    """Write ``value`` to a file as a container's secret mount would (newline-terminated); return its path."""
    path = tmp_path / f"{name}.secret"
    path.write_text(value + "\n", encoding="utf-8")
    return str(path)


def set_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_url: str, url: str, auth_mode: str) -> None:
    """Configure the CLI as a container would: some secrets in variables, some in ``*_FILE`` files."""
    for name in list(os.environ):
        if name.upper().startswith("LAPOR_SYNC_"):
            monkeypatch.delenv(name)
    variables = {
        "DATABASE_URL_FILE": secret_file(tmp_path, "database_url", url),
        "API_TOKEN_FILE": secret_file(tmp_path, "api_token", APP_TOKEN),
        "API_KEY": API_KEY,
        "AUTH_MODE": auth_mode,
        "API_BASE_URL": base_url,
        "INSTITUTION_ID": str(CITY),
        "LOG_LEVEL": "debug",
        "INITIAL_SINCE": "2024-01-01T00:00:00+07:00",
        "LEASE_WAIT_SECONDS": "0",
    }
    if auth_mode == "splp_key":
        variables |= {"SPLP_KEY_FILE": secret_file(tmp_path, "splp_key", SPLP_KEY)}
    if auth_mode == "oauth2":
        variables |= {
            "OAUTH_TOKEN_URL": base_url.removesuffix("/lapor/3.0.0") + TOKEN_PATH,
            "OAUTH_CLIENT_ID": CLIENT_ID,
            "OAUTH_CLIENT_SECRET_FILE": secret_file(tmp_path, "oauth_client_secret", CLIENT_SECRET),
        }
    for name, value in variables.items():
        monkeypatch.setenv(f"LAPOR_SYNC_{name}", value)
    monkeypatch.setenv("COLUMNS", "300")


def command_runner(outputs: dict[str, str]) -> Run:
    """Return ``run(*args, env=None, exits=(0,), refused=())``: invoke ``lapor-sync *args`` in-process.

    Its whole output (stdout, stderr, and the traceback of an exception in ``refused``, which the
    real entry point would print as one ``error:`` line) is kept in ``outputs`` under the command
    line; stdout is returned. Any other exception fails the test.
    """

    def run(
        *args: str,
        env: dict[str, str | None] | None = None,
        exits: tuple[int, ...] = (0,),
        refused: tuple[type[BaseException], ...] = (),
    ) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        where = f"output of `lapor-sync {' '.join(args)}` (#{len(outputs) + 1})"
        failure = None if isinstance(result.exception, SystemExit) else result.exception
        crash = "" if failure is None else "".join(traceback.format_exception(failure))
        outputs[where] = f"{result.stdout}\n{result.stderr}\n{crash}"
        if refused:
            assert isinstance(failure, refused), (where, crash or result.output)
        else:
            assert not crash, (where, crash)
            assert result.exit_code in exits, (where, result.exit_code, result.output)
        return result.stdout

    return run


def sync_whole_story(run: Run, sim: Simulator, auth_mode: str) -> None:
    """Pull, let staff act, fail in every way the test provokes, recover, and push everything."""
    assert json.loads(run("sync", "--json"))["created"] == 3
    cases = [c for c in json.loads(run("case", "list", "--json")) if c["agency_code"] == "DINSOS"]
    for case in cases:
        run("case", "followup", str(case["id"]), "--text", "Petugas sudah meninjau lokasi.")
    run("case", "complete", str(cases[0]["id"]), "--note", "Bantuan sudah disalurkan.")

    # A refused API key stops the run (401): its error text is stored and printed.
    refused = json.loads(run("sync", "--json", env={"LAPOR_SYNC_API_KEY": WRONG_API_KEY}, exits=(1,)))
    assert "authentication refused" in refused["error"]
    if auth_mode == "oauth2":
        refused = json.loads(
            run(
                "sync",
                "--json",
                exits=(1,),
                env={
                    "LAPOR_SYNC_OAUTH_CLIENT_SECRET_FILE": None,
                    "LAPOR_SYNC_OAUTH_CLIENT_SECRET": WRONG_CLIENT_SECRET,
                },
            )
        )
        assert "OAuth2 token endpoint refused" in refused["error"]

    # HTTP 500 on every write, one attempt allowed: each outbox row becomes a dead letter with its error.
    sim.set_faults(FaultPlan({"http_500": 1.0}, name="every write fails"))
    run("sync", "--push-only", "--json", env={"LAPOR_SYNC_MAX_PUSH_ATTEMPTS": "1"}, exits=(0, 1))
    sim.set_faults(None)
    dead = json.loads(run("outbox", "--state", "dead", "--json"))
    assert len(dead) == 3 and all("HTTP 500" in row["last_error"] for row in dead)

    run("outbox", "retry", "--dead")
    pushed = json.loads(run("sync", "--json"))
    assert (pushed["outcome"], pushed["pushed"]) == ("ok", 3)

    # The worker, refused and then pushing: its JSON log lines on stdout (at debug, from
    # LAPOR_SYNC_LOG_LEVEL) are searched with every other output.
    refused_log = run("worker", "--once", env={"LAPOR_SYNC_API_KEY": WRONG_API_KEY}, exits=(1,))
    assert "authentication refused" in refused_log
    run("case", "followup", str(cases[1]["id"]), "--text", "Bantuan dijadwalkan minggu depan.")
    worker_log = run("worker", "--once")
    assert '"level": "DEBUG"' in worker_log and '"pushed": 1' in worker_log


def refuse_wrong_settings(run: Run, tmp_path: Path) -> None:
    """Commands that stop on their settings: the messages name variables, never values."""
    both = {"LAPOR_SYNC_API_KEY_FILE": secret_file(tmp_path, "api_key", API_KEY)}
    run("sync", env=both, refused=(ConfigurationError,))
    run("sync", env={"LAPOR_SYNC_API_TOKEN_FILE": None}, refused=(ConfigurationError,))
    not_a_url = secret_file(tmp_path, "bad_url", f"postgresql//lapor:{DB_PASSWORD}@127.0.0.1/lapor")
    run("status", env={"LAPOR_SYNC_DATABASE_URL_FILE": not_a_url}, refused=(ConfigurationError,))
    unreachable = secret_file(tmp_path, "unreachable_url", f"postgresql://lapor:{DB_PASSWORD}@127.0.0.1:1/lapor")
    run("status", env={"LAPOR_SYNC_DATABASE_URL_FILE": unreachable}, refused=(OperationalError,))


@pytest.mark.parametrize("auth_mode", ["static", "splp_key", "oauth2"])
def test_no_secret_reaches_logs_events_tables_or_output(
    database: Database,
    auth_mode: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(national_config, "_logged", set())  # the key's warnings are logged once per process
    sim, issued_tokens, urls = simulator(auth_mode)
    outputs: dict[str, str] = {}
    run = command_runner(outputs)
    state_file = tmp_path / "world.json"

    with capture_all_logs() as logs:
        with sim.serve() as base_url:
            set_environment(monkeypatch, tmp_path, base_url, database_url(database), auth_mode)
            sync_whole_story(run, sim, auth_mode)
            refuse_wrong_settings(run, tmp_path)
            for args in READ_COMMANDS + CONFIG_COMMANDS:
                run(*args, exits=(0, 1, 2))  # status exits 1 or 2 when degraded; the output counts
            http_levels = {name: logging.getLogger(name).getEffectiveLevel() for name in HTTP_LOGGERS}
        sim.save(state_file)
        run("check", "invariants", "--simulator-state", str(state_file), "--json", exits=(0, 1))

    assert all(level >= logging.WARNING for level in http_levels.values()), http_levels
    assert any(line.startswith("lapor_sync") and " DEBUG " in line for line in logs.lines)
    if auth_mode == "splp_key":
        assert any("is a SANDBOX key but" in line for line in logs.lines)  # the warning itself was searched
    assert bool(issued_tokens) == (auth_mode == "oauth2") and any("/complaints/inbox" in url for url in urls)
    secrets = secrets_to_find(auth_mode) | {f"OAuth2 access token {n}": t for n, t in enumerate(issued_tokens, 1)}
    process = capfd.readouterr()
    haystacks: dict[str, str] = {
        **{where: text for where, text in outputs.items() if "config show" not in where},
        **logs.haystacks(),
        **table_cells(database.engine),
        **{f"URL asked of the simulator: {url.split('?')[0]} (#{n})": url for n, url in enumerate(urls, 1)},
        "the test process's stdout (simulator included)": process.out,
        "the test process's stderr (simulator included)": process.err,
        "the saved simulator state": state_file.read_text(encoding="utf-8"),
    }
    assert_no_secret(haystacks, secrets)
    # ``config show`` shows the OAuth2 client id on purpose (RFC 6749 §2.2: not a secret); nothing else.
    shown = {where: text for where, text in outputs.items() if "config show" in where}
    assert_no_secret(shown, {label: value for label, value in secrets.items() if label != "OAuth2 client id"})


def test_http_client_loggers_stay_at_warning_at_debug_level() -> None:
    """httpx logs request lines and httpcore whole headers at DEBUG: they must never follow lapor-sync down."""
    configure_logging(LogLevel.DEBUG)

    assert logging.getLogger("lapor_sync").getEffectiveLevel() == logging.DEBUG
    for name in HTTP_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
