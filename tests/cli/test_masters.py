"""``masters pull`` and ``masters list``, ``mapping check`` against them, and ``case followup --template`` (G8).

The national side is respx in front of the real client, so what is tested is the command as run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.simulator.catalog import INSTITUTIONS
from lapor_sync.simulator.masters import TEMPLATES
from lapor_sync.sync.admin.masters import TemplateRefused
from tests.support.cli import Seeded, cli_env, invoke, invoke_json, outbox_row, seeded
from tests.support.national import BASE

__all__ = ["cli_env", "seeded"]  # fixtures

INSTITUTIONS_URL = f"{BASE}{NationalEndpoints().masters_institutions}"
TEMPLATES_URL = f"{BASE}{NationalEndpoints().masters_templates}"
ALL_INSTITUTIONS = [{"id": i.id, "name": i.name} for i in sorted(INSTITUTIONS.values(), key=lambda i: i.id)]
ALL_TEMPLATES = [
    {"id": t.id, "template_code": t.template_code, "name": t.name, "content": t.content} for t in TEMPLATES
]


class Platform:
    """The two master lists as respx answers them; change ``institutions``/``templates`` between pulls."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.institutions: list[Any] | int = list(ALL_INSTITUTIONS)
        self.templates: list[Any] | int = list(ALL_TEMPLATES)
        router.get(INSTITUTIONS_URL).mock(side_effect=lambda request: self._answer(self.institutions))
        self.templates_route = router.get(TEMPLATES_URL).mock(side_effect=lambda request: self._answer(self.templates))

    @staticmethod
    def _answer(rows: list[Any] | int) -> httpx.Response:
        if isinstance(rows, int):
            return httpx.Response(rows, json={"message": "Refused."})
        body = {"current_page": 1, "last_page": 1, "per_page": 1000, "next_page_url": None, "data": rows}
        return httpx.Response(200, json={"results": body})


@pytest.fixture
def platform(router: respx.MockRouter, cli_env: str, monkeypatch: pytest.MonkeyPatch) -> Platform:
    for name, value in {
        "API_BASE_URL": BASE,
        "API_KEY": "sim-api-key",
        "API_TOKEN": "{guid}",
        "INSTITUTION_ID": "6271",
    }.items():
        monkeypatch.setenv(f"LAPOR_SYNC_{name}", value)
    return Platform(router)


def pull_json() -> tuple[int, dict[str, Any]]:
    result = invoke("masters", "pull", "--json")
    return result.exit_code, json.loads(result.stdout)


def test_first_pull_stores_both_lists_and_a_second_shows_what_changed(platform: Platform) -> None:
    code, first = pull_json()

    assert code == 0
    assert first["institutions"]["status"] == "stored" and first["institutions"]["listed"] == len(INSTITUTIONS)
    assert {c["kind"] for c in first["templates"]["changes"]} == {"added"}

    platform.institutions = [
        {"id": 627103, "name": "Dinas Perhubungan Kota Palangka Raya"} if row["id"] == 627103 else row
        for row in ALL_INSTITUTIONS
        if row["id"] != 9004
    ] + [{"id": 9005, "name": "Ombudsman RI Perwakilan Kalimantan Tengah"}]
    code, second = pull_json()

    assert code == 0
    assert [(c["kind"], c["key"], c["before"]) for c in second["institutions"]["changes"]] == [
        ("changed", "627103", "Dinas Perhubungan"),
        ("added", "9005", None),
        ("gone", "9004", None),
    ]
    assert second["templates"]["changes"] == []
    table = invoke("masters", "pull")
    assert table.exit_code == 0 and "no change since the last pull" in table.stdout


def test_pull_table_names_each_change(platform: Platform) -> None:
    assert invoke("masters", "pull").exit_code == 0
    platform.templates = [
        dict(row, content="Teks baru.") if row["template_code"] == "selesai" else row for row in ALL_TEMPLATES
    ]

    result = invoke("masters", "pull")

    assert result.exit_code == 0
    assert "Reply templates: 5 listed, 1 changed since the last pull." in result.stdout
    assert "selesai" in result.stdout and "content" in result.stdout


def test_an_empty_answer_is_refused_with_a_warning_and_nothing_changes(platform: Platform) -> None:
    pull_json()
    platform.institutions = []

    result = invoke("masters", "pull")

    assert result.exit_code == 1
    assert "master institutions refused_empty" in result.stderr and "nothing was changed" in result.stderr
    listed = invoke_json("masters", "list", "institutions")
    assert len(listed) == len(INSTITUTIONS) and all(row["gone_at"] is None for row in listed)


def test_a_failed_list_keeps_its_rows_and_the_other_is_stored(platform: Platform) -> None:
    pull_json()
    platform.institutions = 404
    platform.templates = ALL_TEMPLATES[:2]

    code, outcome = pull_json()

    assert code == 1
    assert outcome["institutions"]["status"] == "failed" and "404" in outcome["institutions"]["error"]
    assert outcome["templates"]["status"] == "stored"
    assert len(invoke_json("masters", "list", "institutions")) == len(INSTITUTIONS)
    assert [row["code"] for row in invoke_json("masters", "list", "templates")] == ["followup", "survei_lokasi"]
    gone = [row for row in invoke_json("masters", "list", "templates", "--all") if row["gone_at"]]
    assert sorted(row["code"] for row in gone) == ["bukan_wewenang", "data_dukung_kurang", "selesai"]


def test_refused_credentials_do_not_spend_a_second_request(platform: Platform) -> None:
    platform.institutions = 401

    code, outcome = pull_json()

    assert code == 1
    assert [outcome[name]["status"] for name in ("institutions", "templates")] == ["failed", "skipped"]
    assert not platform.templates_route.called


def test_list_before_any_pull_says_to_pull(platform: Platform) -> None:
    invoke("db", "upgrade")

    assert invoke_json("masters", "list", "templates") == []
    assert "run `lapor-sync masters pull`" in invoke("masters", "list").stdout


def test_list_shows_templates_with_their_text(platform: Platform) -> None:
    pull_json()

    templates = invoke_json("masters", "list", "templates")
    table = invoke("masters", "list", "templates")

    assert templates[0] == {
        "code": "bukan_wewenang",
        "id": 5,
        "name": "Bukan wewenang",
        "content": TEMPLATES[4].content,
        **{key: templates[0][key] for key in ("first_seen_at", "last_seen_at", "updated_at")},
        "gone_at": None,
    }
    assert table.exit_code == 0 and "survei_lokasi" in table.stdout and "Peninjauan lokasi" in table.stdout


def test_mapping_check_without_master_data_says_to_pull_and_creates_no_database(cli_env: str) -> None:
    result = invoke("mapping", "check")

    assert result.exit_code == 0
    assert "run `lapor-sync masters pull`" in result.stderr
    assert not Path(cli_env.removeprefix("sqlite:///")).exists()


def test_mapping_check_of_a_file_goes_on_when_the_database_cannot_be_read(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")  # nothing listens

    result = invoke("mapping", "check")

    assert result.exit_code == 0 and "Mapping OK" in result.stdout
    assert "not checked against LAPOR!: cannot read the database" in result.stderr
    assert "run `lapor-sync masters pull`" not in result.stderr  # it may well have been pulled
    assert invoke_json("mapping", "check")["unknown_institutions"] is None


def test_mapping_check_warns_about_mapped_institutions_the_platform_does_not_know(platform: Platform) -> None:
    platform.institutions = [row for row in ALL_INSTITUTIONS if row["id"] not in (627112, 9003)]
    pull_json()
    clean = invoke_json("mapping", "check")
    platform.institutions = [row for row in platform.institutions if row["id"] != 9002]
    pull_json()

    found = invoke_json("mapping", "check")
    text = invoke("mapping", "check")

    assert clean["unknown_institutions"] == [
        {"id": 627112, "where": "agency DISTANKP", "gone_at": None},
        {"id": 9003, "where": "outside_institution", "gone_at": None},
    ]
    assert [(u["id"], u["gone_at"] is not None) for u in found["unknown_institutions"]] == [
        (627112, False),
        (9002, True),
        (9003, False),
    ]
    assert text.exit_code == 0
    assert "warning: institution 627112 (agency DISTANKP) is unknown to LAPOR!: not listed" in text.stderr
    assert "institution 9002 (outside_institution) is unknown to LAPOR!: no longer listed since" in text.stderr


def test_followup_from_a_template_queues_its_text_then_the_officers(platform: Platform, seeded: Seeded) -> None:
    pull_json()

    result = invoke("case", "followup", "#1900001", "--template", "survei_lokasi", "--text", "Jadwal: Senin.")

    assert result.exit_code == 0, result.output
    row = outbox_row(seeded.url, int(result.stdout.split("outbox #")[1].split(";")[0]))
    assert row.payload["content"].endswith(f"{TEMPLATES[1].content}\n\nJadwal: Senin.")
    alone = invoke("case", "followup", "#1900001", "--template", "selesai")
    alone_row = outbox_row(seeded.url, int(alone.stdout.split("outbox #")[1].split(";")[0]))
    assert alone_row.payload["content"].endswith(TEMPLATES[2].content)


def test_followup_with_an_unknown_withdrawn_or_placeholder_template_is_refused(
    platform: Platform, seeded: Seeded
) -> None:
    platform.templates = [
        *ALL_TEMPLATES[:2],
        {"template_code": "sapaan", "name": "Sapaan", "content": "Yth. {{nama_pelapor}}, laporan Anda kami terima."},
    ]
    pull_json()
    platform.templates = platform.templates[1:]
    pull_json()

    unknown = invoke("case", "followup", "1", "--template", "tidak_ada")
    gone = invoke("case", "followup", "1", "--template", "followup")
    placeholder = invoke("case", "followup", "1", "--template", "sapaan")

    assert isinstance(unknown.exception, TemplateRefused)
    assert "no reply template 'tidak_ada'" in str(unknown.exception)
    assert "`lapor-sync masters list templates`" in str(unknown.exception)
    assert "no longer listed" in str(gone.exception)
    assert "{{nama_pelapor}}" in str(placeholder.exception) and "--text" in str(placeholder.exception)
    assert [row["id"] for row in invoke_json("case", "show", "1")["outbox"]] == [seeded.pending_outbox]  # none queued


def test_followup_needs_text_or_a_template(seeded: Seeded) -> None:
    result = invoke("case", "followup", "1")

    assert result.exit_code == 2 and "--template" in result.output


def test_a_database_not_upgraded_since_master_data_has_none_stored(seeded: Seeded) -> None:
    from alembic import command

    from lapor_sync.storage.database import alembic_config, migration_engine

    # As Database.upgrade migrates SQLite: foreign keys off while a batch copies a referenced table (0009's sync_run).
    engine = migration_engine(seeded.url)
    command.downgrade(alembic_config(engine), "0006")
    engine.dispose()

    assert invoke_json("masters", "list") == []
    assert "run `lapor-sync masters pull`" in invoke("mapping", "check").stderr
    refused = invoke("case", "followup", "1", "--template", "selesai")
    assert isinstance(refused.exception, TemplateRefused) and "no reply template" in str(refused.exception)
