"""The key that signs the console's cookies: from the settings, or made once and kept in the database."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import Clock
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import ConsoleSecret

SESSION_KEY = "session"


def signing_key(settings: Settings, db: Database, clock: Clock) -> str:
    """``web_secret_key`` when set; else the database's session key, created at first use.

    Every process serving the console must sign with the same key, so a key made up per process
    would sign users out whenever another process answered; the database is what they share.
    Anyone who can read the database can forge sessions: it holds the complaints anyway.
    """
    if settings.web_secret_key is not None:
        return settings.web_secret_key.get_secret_value()
    with db.session() as session:
        row = session.get(ConsoleSecret, SESSION_KEY)
        if row is not None:
            return row.value
        session.add(ConsoleSecret(name=SESSION_KEY, value=secrets.token_urlsafe(48), created_at=clock.now()))
        try:
            session.commit()
        except IntegrityError:  # another process made it first: use theirs
            session.rollback()
    with db.session() as session:
        stored = session.get(ConsoleSecret, SESSION_KEY)
        assert stored is not None  # inserted above, by us or by the process that won
        return stored.value
