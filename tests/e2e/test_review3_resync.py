"""Review 3 regressions: a dry-run resync after a mapping correction that adds an agency writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import text

from lapor_sync.app import App
from lapor_sync.storage.database import Database
from lapor_sync.sync.admin.resync import ResyncOutcome, run_resync
from lapor_sync.sync.admin.selection import Selection
from tests.e2e.test_resync import PERHUBUNGAN
from tests.support.e2e import CITY, Harness, harness, settings_for, small_world

pytestmark = pytest.mark.e2e
NEW_AGENCY = (
    '[[agency]]\ncode = "DISHUBLLAJ"\nname = "UPT Lalu Lintas"\nabbreviation = "UPT LLAJ"\ninstitution_id = 627199\n\n'
)


@pytest.fixture
def h(database: Database) -> Iterator[Harness]:
    """A harness on an empty simulator and a database (SQLite, and PostgreSQL when configured)."""
    with harness(small_world(), database.url) as running:
        yield running


@pytest.fixture
def with_new_agency(h: Harness, tmp_path: Path) -> Iterator[App]:
    """The city's mapping plus a new agency, DISHUBLLAJ, which now takes category Perhubungan."""
    mapping = (resources.files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8")
    rule = 'category = "Perhubungan"\nagency = "DISHUB"'
    mapping = mapping.replace(rule, 'category = "Perhubungan"\nagency = "DISHUBLLAJ"')
    mapping = mapping.replace("[[agency]]\n", NEW_AGENCY + "[[agency]]\n", 1)
    path = tmp_path / "new-agency.toml"
    path.write_text(mapping, encoding="utf-8")
    app = App(settings_for(h.app.settings.database_url, h.base_url, mapping_file=path), clock=h.clock, purpose="resync")
    yield app
    app.db.dispose()


def _agencies(h: Harness) -> list[str]:
    with h.app.db.engine.connect() as conn:
        return sorted(code for (code,) in conn.execute(text("SELECT code FROM agency")))


def test_a_dry_run_moving_cases_to_a_new_agency_leaves_the_agency_table_alone(h: Harness, with_new_agency: App) -> None:
    complaint = h.add_complaint(disposition_id=CITY, category_id=PERHUBUNGAN).complaint_id
    assert h.sync().created == 1
    agencies, rows = _agencies(h), h.table_rows()

    dry = run_resync(
        with_new_agency.sync_service(h.platform), Selection(agency_code="DISHUB"), requested_by="admin", dry_run=True
    )

    assert [(c.complaint_id, c.outcome, c.new_agency) for c in dry.changes] == [
        (complaint, ResyncOutcome.MOVED, "DISHUBLLAJ")
    ]
    assert "DISHUBLLAJ" not in agencies and _agencies(h) == agencies
    assert h.table_rows() == rows

    real = run_resync(with_new_agency.sync_service(h.platform), Selection(agency_code="DISHUB"), requested_by="admin")

    assert real.changes[0].outcome is ResyncOutcome.MOVED
    assert "DISHUBLLAJ" in _agencies(h) and h.case(complaint).agency_code == "DISHUBLLAJ"
