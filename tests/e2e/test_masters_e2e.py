"""End to end, master data: ``lapor-sync masters pull`` against the simulator over loopback, then a follow-up
started from a reply template reaches LAPOR! through the outbox (CONTRACT §7 G8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.reference import strip_reference
from lapor_sync.simulator.catalog import INSTITUTIONS
from lapor_sync.simulator.masters import TEMPLATES
from lapor_sync.sync.admin.masters import followup_text
from tests.support.e2e import CITY, Harness, child_env, run_command

pytestmark = pytest.mark.e2e


def masters_pull(h: Harness, tmp_path: Path) -> dict:
    env = child_env(f"sqlite:///{tmp_path / 'e2e.db'}", h.base_url)
    done = run_command(env, "masters", "pull", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_masters_pull_then_a_followup_from_a_template(h: Harness, tmp_path: Path) -> None:
    first = masters_pull(h, tmp_path)
    assert first["institutions"]["listed"] == len(INSTITUTIONS)
    assert [c["key"] for c in first["templates"]["changes"]] == [t.template_code for t in TEMPLATES]

    with h.world.lock:
        h.world.masters.institutions[627103] = "Dinas Perhubungan Kota Palangka Raya"
        del h.world.masters.templates["data_dukung_kurang"]
    second = masters_pull(h, tmp_path)
    assert [(c["kind"], c["key"]) for c in second["institutions"]["changes"]] == [("changed", "627103")]
    assert [(c["kind"], c["key"]) for c in second["templates"]["changes"]] == [("gone", "data_dukung_kurang")]

    complaint_id = h.new_case()
    with h.app.db.session() as session:
        text = followup_text(session, CITY, "survei_lokasi", "Jadwal: Senin, 09.00 WIB.")
    h.act(complaint_id, AgencyAction.FOLLOWUP, text)
    assert h.sync().pushed == 1

    (posted,) = h.world.complaint(complaint_id).followups
    assert strip_reference(posted.content) == f"{TEMPLATES[1].content}\n\nJadwal: Senin, 09.00 WIB."
