"""The engine on the in-memory fake platform: the App on a SQLite file migrated once per session, copied per test.

Copying the migrated file takes about 7 ms where migrating a new one takes about 45 ms; an in-memory
database would need one shared connection and so could not stand for the separate sessions of a run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from tests.support.city import CitySide
from tests.support.fake_platform import CITY, FakePlatform


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, made once per test session; never written to: tests copy it."""
    path = tmp_path_factory.mktemp("migrated") / "lapor-sync.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()  # checkpoints the WAL into the file, so the file alone is the whole database
    return path


@pytest.fixture
def fake(clock: ManualClock) -> FakePlatform:
    """The national platform, empty, on the test's manual clock."""
    return FakePlatform(clock)


@pytest.fixture
def city(fake: FakePlatform, migrated_database: Path, tmp_path: Path, clean_env: None) -> Iterator[CitySide]:
    """lapor-sync for Palangka Raya on a fresh copy of the migrated database, wired to ``fake``.

    The first pull starts a day before the clock; the rest are the defaults of the settings.
    """
    path = tmp_path / "lapor-sync.db"
    shutil.copyfile(migrated_database, path)
    settings = Settings(
        database_url=f"sqlite:///{path}",
        institution_id=CITY,
        initial_since=fake.clock.now() - timedelta(days=1),
    )
    app = App(settings, clock=fake.clock)
    yield CitySide(app, fake, fake.clock)
    app.db.dispose()
