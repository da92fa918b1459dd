"""The console's share of the composition root: the :class:`App` plus the account and audit services."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from starlette.requests import Request

from lapor_sync.accounts.audit import AuditLog
from lapor_sync.accounts.tokens import ApiTokens
from lapor_sync.accounts.users import Accounts
from lapor_sync.app import App
from lapor_sync.domain.clock import Clock
from lapor_sync.storage.database import Database


@dataclass
class Console:
    """What every page and API route uses, built once per console process.

    Args:
        app: the composition root (settings, mapping, database, platform clients): the same as the CLI's.
        clock: "now" for sessions, audit entries and throttling (the app's clock).
        stopping: set when the server stops: open live streams end at their next poll rather than
            hold the stop up until the server gives up on them.
    """

    app: App
    clock: Clock
    stopping: threading.Event = field(default_factory=threading.Event)

    @cached_property
    def db(self) -> Database:
        """The migrated database (the console creates or upgrades it at start, as ``sync`` does)."""
        return self.app.writable_db()

    @cached_property
    def accounts(self) -> Accounts:
        """Console users, their passwords, tokens and sign-in throttling."""
        return Accounts(self.db, self.clock)

    @cached_property
    def tokens(self) -> ApiTokens:
        """Per-user API tokens (``Authorization: Bearer``)."""
        return ApiTokens(self.db, self.clock)

    @cached_property
    def audit(self) -> AuditLog:
        """Who did what to which complaint, when, from where."""
        return AuditLog(self.db, self.clock)


def console(request: Request) -> Console:
    """The :class:`Console` serving ``request`` (a FastAPI dependency)."""
    return request.app.state.console
