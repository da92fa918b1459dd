"""The application services the CLI and the web console share, on SQLite and PostgreSQL.

The records are seeded as a pull and staff would make them (:func:`tests.support.cli.seed`): a public
case of DINSOS with a reporter reply and a pending follow-up, a confidential case of DINKES, an
anonymous case in triage with a dead follow-up, and one unresolved set-aside record.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import timedelta

import pytest

from lapor_sync.adapters.city.builtin import CaseNotFound
from lapor_sync.app import App
from lapor_sync.config.mapping_rule import RuleRefused, category_route_toml
from lapor_sync.config.settings import Settings
from lapor_sync.domain.actions import ActionRefused, AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.outbox import OutboxState
from lapor_sync.domain.routing import CategoryRoute
from lapor_sync.domain.sla import SlaStatus
from lapor_sync.queries.outbox import search_outbox
from lapor_sync.queries.set_aside import search_set_aside
from lapor_sync.reports.case_detail import CaseDetail, case_detail
from lapor_sync.reports.case_lookup import CaseRefInvalid, find_case
from lapor_sync.reports.config import config_view
from lapor_sync.reports.mapping import check_mapping, rules_in_force, triaged_categories
from lapor_sync.reports.set_aside import set_aside_row
from lapor_sync.storage.database import Database
from lapor_sync.sync.admin.case_actions import act_on_case
from lapor_sync.sync.admin.masters import TemplateRefused
from lapor_sync.sync.admin.outbox import OutboxRefused, cancel_many, requeue_many
from tests.support.cli import CITY, PERSONAL, SECRET_CONTENT, SECRET_TITLE, Seeded, seed
from tests.support.factories import T0


@pytest.fixture
def seeded_app(database: Database, clean_env: None) -> Iterator[tuple[App, Seeded]]:
    """The seeded records, and an App on them whose clock stands ten days after the first disposition."""
    seeded = seed(database.url)
    app = App(Settings(database_url=database.url, institution_id=CITY), clock=ManualClock(T0 + timedelta(days=10)))
    yield app, seeded
    app.db.dispose()


def detail_of(app: App, ref: str, **flags: bool) -> CaseDetail:
    with app.db.session() as session:
        case = find_case(app.city_records(session), ref).case
        return case_detail(
            app,
            session,
            case,
            show_reporter=flags.get("show_reporter", False),
            show_confidential=flags.get("show_confidential", False),
        )


def test_find_case_by_id_tracking_id_and_tracking_id_without_hash(seeded_app: tuple[App, Seeded]) -> None:
    app, seeded = seeded_app
    with app.db.session() as session:
        records = app.city_records(session)
        assert find_case(records, str(seeded.public_case)).case.tracking_id == "1900001"
        assert find_case(records, "#1900002").case.id == seeded.secret_case
        by_tracking = find_case(records, "1900003")
        assert by_tracking.case.id == seeded.triage_case and "tracking id #1900003" in (by_tracking.note or "")
        with pytest.raises(CaseRefInvalid):
            find_case(records, "abc")
        with pytest.raises(CaseNotFound, match="'#999'"):
            find_case(records, "999")


def test_case_detail_hides_the_reporter_and_confidential_texts_unless_asked(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app

    hidden = detail_of(app, "#1900002")
    assert hidden.reporter is None and hidden.fields["title"] is None and hidden.fields["content"] is None
    assert not any(text in repr(hidden) for text in (*PERSONAL, SECRET_TITLE, SECRET_CONTENT))

    shown = detail_of(app, "#1900002", show_reporter=True, show_confidential=True)
    assert shown.reporter == {"name": "Siti Rahasia", "email": "siti@contoh.id", "phone": "0813-9999-0000"}
    assert (shown.fields["title"], shown.fields["content"]) == (SECRET_TITLE, SECRET_CONTENT)

    anonymous = detail_of(app, "#1900003", show_reporter=True, show_confidential=True)
    assert anonymous.reporter is None and anonymous.fields["is_anonymous"] is True


def test_case_detail_has_thread_outbox_sla_routing_and_events(seeded_app: tuple[App, Seeded]) -> None:
    app, seeded = seeded_app

    detail = detail_of(app, "#1900001")

    assert [(e["origin"], e["author_type"]) for e in detail.thread] == [("national", "pelapor"), ("agency", "instansi")]
    assert detail.thread[1]["content"] == "Petugas akan survei lokasi."  # without our reference token
    assert [(o["id"], o["state"]) for o in detail.outbox] == [(seeded.pending_outbox, "pending")]
    # Staff's follow-up was written on day 3, within the 5 working days after the disposition on day 0.
    assert detail.sla.followup.met_at is not None and not detail.sla.followup.met_late
    assert detail.sla.status is not SlaStatus.MET  # still open: the auto-close is expected
    assert (detail.routing["agency_code"], detail.routing["rule"]) == ("DINSOS", "institution:627104")
    assert detail.routing["case"]["id"] == seeded.public_case
    assert [e.kind for e in detail.events] == ["complaint.created"]
    assert detail.fields["agency_name"] == "Dinas Sosial" and detail.override is None


def test_case_detail_of_an_unanswered_case_is_overdue_in_working_days(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app

    detail = detail_of(app, "#1900002")  # dispositioned on day 1, no follow-up; 10 days later

    assert detail.sla.status is SlaStatus.OVERDUE and detail.sla.followup.met_at is None
    assert detail.routing["rule"] == "category:Kesehatan"


def test_act_on_case_queues_the_action_and_says_whether_it_waits_for_approval(
    seeded_app: tuple[App, Seeded],
) -> None:
    app, seeded = seeded_app

    followup = act_on_case(app, "#1900002", AgencyAction.FOLLOWUP, "  Sedang kami periksa.  ")
    assert (followup.case_id, followup.case_state, followup.waits_for_approval) == (
        seeded.secret_case,
        "in_progress",
        False,
    )
    returned = act_on_case(app, str(seeded.public_case), AgencyAction.RETURN, "Mohon lampirkan foto.")
    assert returned.waits_for_approval and returned.label == "Return request (data dukung kurang)"
    with app.db.session() as session:
        queued = search_outbox(session, CITY, state=OutboxState.PENDING, oldest=True).rows
    assert [(row.id, row.kind) for row in queued][-2:] == [
        (followup.outbox_id, "followup"),
        (returned.outbox_id, "return"),
    ]
    assert queued[-2].payload["is_secret"] is True  # as confidential as the complaint


def test_act_on_case_refusals_change_nothing(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app
    with app.db.session() as session:
        before = len(search_outbox(session, CITY, undelivered=True).rows)

    with pytest.raises(ActionRefused, match="empty"):
        act_on_case(app, "#1900001", AgencyAction.FOLLOWUP, "   ")
    with pytest.raises(ActionRefused, match="city or one of its agencies"):
        act_on_case(app, "#1900001", AgencyAction.FORWARD, "Bukan wewenang.", target_institution_id=CITY)
    with pytest.raises(ActionRefused, match="follow-up"):
        act_on_case(app, "#1900002", AgencyAction.COMPLETE, "Selesai.")
    with pytest.raises(TemplateRefused):
        act_on_case(app, "#1900001", AgencyAction.FOLLOWUP, "", template="survei_lokasi")

    with app.db.session() as session:
        assert len(search_outbox(session, CITY, undelivered=True).rows) == before


def test_a_forward_outside_the_mapping_is_queued_with_a_warning(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app

    known = act_on_case(app, "#1900001", AgencyAction.FORWARD, "Wewenang kepolisian.", target_institution_id=9001)
    unknown = act_on_case(app, "#1900002", AgencyAction.FORWARD, "Wewenang lain.", target_institution_id=1234)

    assert known.warning is None and known.waits_for_approval
    assert unknown.warning is not None and "1234" in unknown.warning


def test_bulk_requeue_and_cancel_say_per_row_what_happened(seeded_app: tuple[App, Seeded]) -> None:
    app, seeded = seeded_app
    now = app.clock.now()

    requeued = requeue_many(
        app.db, now, CITY, [seeded.dead_outbox, 999, seeded.dead_outbox], requested_by="console:admin"
    )
    assert [(o.item_id, o.done) for o in requeued] == [(seeded.dead_outbox, True), (999, False)]
    assert requeued[0].row is not None and requeued[0].row.state == "pending" and requeued[0].row.attempts == 0
    assert "no outbox row 999" in (requeued[1].refusal or "")

    cancelled = cancel_many(
        app.db, now, CITY, [seeded.pending_outbox, seeded.dead_outbox], reason="dikirim manual", requested_by="ani"
    )
    assert all(o.done for o in cancelled)
    again = cancel_many(app.db, now, CITY, [seeded.pending_outbox], reason="lagi", requested_by="ani")
    assert not again[0].done and "cancelled" in (again[0].refusal or "")
    with pytest.raises(OutboxRefused):
        cancel_many(app.db, now, CITY, [seeded.pending_outbox], reason=" ", requested_by="ani")
    with app.db.session() as session:
        cancelled_ids = [row.id for row in search_outbox(session, CITY, state=OutboxState.CANCELLED, oldest=True).rows]
    assert cancelled_ids == [seeded.pending_outbox, seeded.dead_outbox]


def test_outbox_list_pages_by_id(seeded_app: tuple[App, Seeded]) -> None:
    app, seeded = seeded_app
    with app.db.session() as session:
        first = search_outbox(session, CITY, undelivered=True, oldest=True, limit=1)
        rest = search_outbox(session, CITY, undelivered=True, oldest=True, after_id=first.next_after)
    assert [row.id for row in first.rows + rest.rows] == [seeded.pending_outbox, seeded.dead_outbox]
    assert rest.next_after is None


def test_set_aside_list_newest_first_with_raw_on_request(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app
    with app.db.session() as session:
        [stored] = search_set_aside(session, CITY).rows
        record = set_aside_row(stored, show_raw=True)
        assert search_set_aside(session, CITY, before_id=record["id"]).rows == []
    assert (record["complaint_id"], record["reason"], record["raw"]) == (3_100_009, "created_at: not a date", {})


def test_mapping_rules_triage_and_check(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app

    rules = rules_in_force(app.mapping)
    assert rules[-1] == {
        "rule": "triage",
        "kind": "triage",
        "agency_code": "DISKOMINFO",
        "agency_name": rules[-1]["agency_name"],
    }
    assert {
        "rule": "institution:627104",
        "kind": "institution",
        "agency_code": "DINSOS",
        "agency_name": "Dinas Sosial",
    } in rules
    assert any(r["rule"] == "category:Kesehatan" and r["agency_code"] == "DINKES" for r in rules)

    with app.db.session() as session:
        [triaged] = triaged_categories(session, CITY)
    assert (triaged.category_id, triaged.category_name, triaged.cases, triaged.open_cases) == (
        43,
        "Topik Lainnya",
        1,
        1,
    )
    assert triaged.last_dispositioned_at.tzinfo is not None

    check = check_mapping(app, app.mapping)
    assert check.unknown_institutions is None and "masters pull" in (check.not_checked or "")
    assert check.as_dict()["agencies"] == len(app.mapping.agencies)


def test_a_category_route_is_proposed_as_toml_that_loads(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app

    text = category_route_toml(app.mapping, 'Topik "Lainnya"', "diskominfo", category_id=43)

    [route] = tomllib.loads(text)["category_route"]
    assert CategoryRoute.model_validate(route) == CategoryRoute(
        category='Topik "Lainnya"', category_id=43, agency="DISKOMINFO"
    )
    with pytest.raises(RuleRefused, match="already routed"):
        category_route_toml(app.mapping, "kesehatan", "DINSOS")
    with pytest.raises(RuleRefused, match="no agency"):
        category_route_toml(app.mapping, "Topik Lainnya", "NOPE")


def test_config_view_masks_the_database_password_as_the_cli_does(clean_env: None) -> None:
    settings = Settings(database_url="postgresql://lapor:rahasia-sekali@db.example/lapor", institution_id=CITY)

    view = config_view(settings, T0)

    assert "rahasia-sekali" not in repr(view)
    assert view.settings["database_url"] == {
        "value": settings.masked()["database_url"],
        "source": "init",  # given to Settings directly
        "env": view.settings["database_url"]["env"],
    }
    assert view.settings["institution_id"]["value"] == str(CITY)
    assert "auth_mode" in view.national


def test_a_template_starts_only_a_follow_up(seeded_app: tuple[App, Seeded]) -> None:
    app, _ = seeded_app
    with pytest.raises(ActionRefused, match="template"):
        act_on_case(app, "#1900001", AgencyAction.COMPLETE, "Selesai.", template="selesai")
