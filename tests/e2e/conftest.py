"""The end-to-end harness as a fixture: the simulator served on loopback, lapor-sync on a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lapor_sync.storage.database import Database
from tests.support.e2e import Harness, harness, small_world


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """End-to-end harness: an empty simulator served on loopback, lapor-sync on a SQLite file."""
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}") as running:
        yield running


@pytest.fixture
def on_db(database: Database) -> Iterator[Harness]:
    """The end-to-end harness on the ``database`` fixture's engine (SQLite, then PostgreSQL)."""
    with harness(small_world(), database.url) as running:
        yield running
