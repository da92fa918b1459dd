"""The dashboard: the verdict as ``status`` gives it, its facts linked to their pages, and 30 days of charts."""

from __future__ import annotations

import re
from datetime import timedelta

from lapor_sync.accounts.roles import Role
from lapor_sync.reports.health import say_age
from lapor_sync.reports.reasons import Reason
from lapor_sync.web.charts import HEIGHT, column_chart, row_chart
from lapor_sync.web.i18n import Language, translations
from tests.web.conftest import ConsoleHarness


def test_the_verdict_comes_with_its_reasons_and_the_facts_link_to_their_pages(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER).get("/")
    assert page.status_code == 200
    # The seeded push run failed with a dead letter and a set-aside record: status says failing or degraded.
    verdict = re.search(r'<span class="badge big (\w+)">([^<]+)</span>', page.text)
    assert verdict is not None
    assert (verdict.group(1), verdict.group(2)) in {("degraded", "menurun"), ("failing", "gagal")}
    # A reason as status words it, in the page's language; the server's own error text stays as it came.
    assert "proses pengiriman terakhir #2 gagal: HTTP 401: token expired" in page.text
    assert 'href="/outbox?state=dead"' in page.text
    assert 'href="/set-aside"' in page.text
    assert 'href="/runs/1"' in page.text  # the last successful pull
    assert 'href="/runs?outcome=abandoned"' in page.text
    assert "UTC" not in page.text.replace("UTC+7", "")  # times in WIB only


def test_the_api_twin_gives_status_json_and_the_series(console: ConsoleHarness) -> None:
    token = console.token(Role.VIEWER)
    found = console.client().get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"}).json()
    assert found["health"] in {"degraded", "failing"}
    assert found["outbox"]["dead"] == 1 and found["set_aside_unresolved"] == 1
    series = found["series"]
    assert len(series["days"]) == len(series["pulled"]) == len(series["backlog"]) == 30
    assert series["days"][-1] == "2024-07-05"  # the console's clock, T0 + 4 days, in WIB
    assert series["pulled"][-2] == 3 and sum(series["pulled"]) == 3  # the seeded pull, on 4 July
    assert series["backlog"][-1] == 3


def test_charts_are_inline_svg_with_a_title_a_description_and_their_numbers(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER, accept_language="en").get("/").text
    assert "<script" not in page.split("<main", 1)[1]  # no chart library: drawn on the server
    for chart in ("pulled", "pushed", "backlog"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in page
        assert f'<title id="{chart}-title">' in page
    assert "3 complaints first stored in 30 days; at most 3 on one day." in page
    assert "<tr><td>04 July 2024</td><td>3</td></tr>" in page  # the numbers behind the columns
    assert "No open case is overdue." in page


def test_overdue_cases_are_drawn_per_agency(console: ConsoleHarness) -> None:
    console.clock.advance(timedelta(days=60))  # far past every deadline
    client = console.signed_in(Role.VIEWER, accept_language="en")
    page = client.get("/").text
    assert '<title id="overdue-title">Overdue cases per agency</title>' in page
    overdue = client.get("/api/v1/dashboard").json()["series"]["overdue_by_agency"]
    assert overdue and all(n > 0 for n in overdue.values())
    for agency in overdue:
        assert f'text-anchor="end">{agency}</text>' in page


def test_a_signed_out_visitor_is_sent_to_sign_in(console: ConsoleHarness) -> None:
    assert console.client().get("/").status_code == 303
    assert console.client().get("/api/v1/dashboard").status_code == 401


def test_column_chart_scales_to_the_largest_value_and_labels_a_week_apart() -> None:
    chart = column_chart([f"{n:02d}" for n in range(1, 16)], [0] * 14 + [4])
    assert chart.top == 4
    assert chart.marks[-1].height == HEIGHT and chart.marks[-1].y == 0
    assert chart.marks[0].height == 0
    assert [m.label for m in chart.marks if m.tick] == ["01", "08", "15"]  # today and a week back, and back
    assert chart.points == ""


def test_line_chart_and_row_chart() -> None:
    line = column_chart(["a", "b"], [1, 2], line=True)
    assert line.points == f"150.0,{HEIGHT / 2:.1f} 450.0,0.0"
    rows = row_chart(["DINKES", "DISHUB"], [2, 1])
    assert rows.horizontal and rows.marks[0].width == 2 * rows.marks[1].width
    assert rows.height == 2 * 22


def test_ages_inside_the_reasons_are_said_in_the_page_language_as_in_the_facts(console: ConsoleHarness) -> None:
    console.clock.advance(timedelta(days=2, hours=3))
    page = console.signed_in(Role.VIEWER).get("/").text
    reasons = re.search(r'<ul class="reasons">(.*?)</ul>', page, re.S)
    assert reasons is not None
    assert "penarikan terakhir yang berhasil 3 hari 3 jam yang lalu (gagal bila lewat 1 jam 0 mnt)" in reasons.group(1)
    assert "(3 hari 3 jam yang lalu)" in page  # the facts' table says it the same way
    english = console.signed_in(Role.VIEWER, accept_language="en").get("/").text
    assert "last successful pull 3 d 3 h ago (failing after 1 h 0 min)" in english


def test_an_age_inside_a_health_reason_is_said_in_the_page_language() -> None:
    reason = Reason(
        "last successful pull %(age)s ago (failing after %(limit)s)",
        age=say_age(2 * 86400 + 4 * 3600),
        limit=say_age(3600),
    )
    assert reason == "last successful pull 2 d 4 h ago (failing after 1 h 0 min)"  # the CLI's words, unchanged
    assert reason.translated(translations(Language.ID)) == (
        "penarikan terakhir yang berhasil 2 hari 4 jam yang lalu (gagal bila lewat 1 jam 0 mnt)"
    )
    assert say_age(None).translated(translations(Language.ID)) == "belum pernah"
