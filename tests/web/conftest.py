"""The console over its ASGI app: a seeded database, one user per role, clients signed in as each.

Requests go through httpx's ASGI transport, at ``http://127.0.0.1`` so that cookies are those of a
browser on loopback (not ``Secure``); :class:`AsgiClient` gives the tests a plain synchronous client.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from lapor_sync.accounts.audit import AuditLog
from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.tokens import ApiTokens
from lapor_sync.accounts.users import Accounts
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from lapor_sync.web.app import create_console
from tests.support.cli import Seeded, seed
from tests.support.factories import T0

PASSWORD = "kata-sandi-yang-panjang"
BASE_URL = "http://127.0.0.1"


class AsgiClient:
    """A synchronous face on ``httpx.AsyncClient`` over ``httpx.ASGITransport`` (one event loop per client)."""

    def __init__(self, asgi: FastAPI, base_url: str, headers: dict[str, str], root_path: str = "") -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi, root_path=root_path),
            base_url=base_url,
            headers=headers,
            follow_redirects=False,
        )

    def request(self, method: str, url: str, *, follow_redirects: bool = False, **kwargs: object) -> httpx.Response:
        """Send one request through the ASGI app and return its whole answer."""
        return self._runner.run(self._client.request(method, url, follow_redirects=follow_redirects, **kwargs))

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def cookie_headers(self) -> list[str]:
        """This client's cookies as ``name=value`` strings (to replay them from another client)."""
        return [f"{name}={value}" for name, value in self._client.cookies.items()]

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()


@dataclass
class ConsoleHarness:
    """The console under test and what it was built on."""

    asgi: FastAPI
    app: App
    clock: ManualClock
    seeded: Seeded
    accounts: Accounts
    tokens: ApiTokens

    clients: list[AsgiClient] = field(default_factory=list)

    def client(self, *, base_url: str = BASE_URL, root_path: str = "", **headers: str) -> AsgiClient:
        """A browser-like client, signed out; ``Accept-Language`` etc. as keyword headers (``accept_language=``).

        ``root_path``: as a reverse proxy serving the console under a prefix would have it (uvicorn's ``root_path``).
        """
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        client = AsgiClient(self.asgi, base_url, headers, root_path)
        self.clients.append(client)
        return client

    def signed_in(self, role: Role, **headers: str) -> AsgiClient:
        """A client signed in as the user of ``role`` (names ``admin``, ``operator``, ``viewer``)."""
        client = self.client(**headers)
        answer = client.post(
            "/sign-in", data={"name": role.value, "password": PASSWORD, "csrf_token": csrf_of(client, "/sign-in")}
        )
        assert answer.status_code == 303, answer.text
        return client

    @property
    def audit_log(self) -> AuditLog:
        """The audit log the console writes."""
        return AuditLog(self.app.db, self.clock)

    def token(self, role: Role) -> str:
        """An API token of the user of ``role``."""
        return self.tokens.issue_token(role.value, label="test")


def csrf_of(client: AsgiClient, path: str) -> str:
    """The CSRF token in the page at ``path`` (as a browser's form would carry it)."""
    page = client.get(path, follow_redirects=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its smallest cost: each hash takes a millisecond, not a quarter second (argon2-cffi's advice for tests)."""
    from argon2 import PasswordHasher

    from lapor_sync.accounts import passwords

    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="session")
def seeded_console_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """A migrated, seeded database file with the three users, made once; each test works on a copy of it."""
    from argon2 import PasswordHasher

    from lapor_sync.accounts import passwords

    path = tmp_path_factory.mktemp("console-template") / "console.db"
    seeded = seed(f"sqlite:///{path}")
    db = Database(seeded.url)
    hasher, passwords._HASHER = passwords._HASHER, PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        accounts = Accounts(db, ManualClock(T0 + timedelta(days=4)))
        for role in Role:
            accounts.add(role.value, role, PASSWORD)
    finally:
        passwords._HASHER = hasher
        db.dispose()
    return path, seeded


@pytest.fixture
def console(tmp_path, clean_env: None, seeded_console_file: tuple[Path, Seeded]) -> Iterator[ConsoleHarness]:
    """The console on a seeded SQLite database (a copy), with users ``admin``, ``operator`` and ``viewer``."""
    template, seeded = seeded_console_file
    path = tmp_path / "console.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    clock = ManualClock(T0 + timedelta(days=4))
    app = App(Settings(database_url=url, api_base_url="http://127.0.0.1:9"), clock=clock)  # nothing listens
    asgi = create_console(app)
    harness = ConsoleHarness(
        asgi, app, clock, replace(seeded, url=url), Accounts(app.db, clock), ApiTokens(app.db, clock)
    )
    yield harness
    for client in harness.clients:
        client.close()
    app.db.dispose()


@pytest.fixture
def as_role(console: ConsoleHarness) -> Callable[[Role], AsgiClient]:
    """``as_role(Role.VIEWER)``: a client signed in with that role."""
    return console.signed_in
