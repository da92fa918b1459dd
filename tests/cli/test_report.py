"""The ``report`` command: city tallies and per-agency counts for a WIB period."""

from __future__ import annotations

from tests.support.cli import Seeded, cli_env, invoke, invoke_json, seeded

__all__ = ["cli_env", "seeded"]  # fixtures


def test_report_counts_the_period_in_total_and_per_agency(seeded: Seeded) -> None:
    invoke("case", "followup", "1", "--text", "Ditangani.")
    invoke("case", "complete", "1", "--note", "Selesai.")

    report = invoke_json("report", "--from", "2024-07-01", "--to", "2024-07-31")

    assert (report["from"], report["to"], report["timezone"]) == ("2024-07-01", "2024-07-31", "Asia/Jakarta")
    assert report["city"] == {
        "total": 3,
        "completed": 1,
        "in_process": 2,
        "archived": 0,
        "forwarded": 0,
        "archived_or_returned": 0,
    }
    assert [(a["agency"], a["total"], a["completed"]) for a in report["agencies"]] == [
        ("DINKES", 1, 0),
        ("DINSOS", 1, 1),
        ("DISKOMINFO", 1, 0),
    ]
    assert report["agencies"][1]["name"] == "Dinas Sosial"
    assert report["article"] is None


def test_report_days_are_wib_calendar_days_both_ends_included(seeded: Seeded) -> None:
    # Case 1 was dispositioned 2024-07-01 09:00 WIB; case 2 on 07-02, case 3 on 07-03.
    assert invoke_json("report", "--from", "2024-07-01", "--to", "2024-07-01")["city"]["total"] == 1
    assert invoke_json("report", "--from", "2024-07-02", "--to", "2024-07-03")["city"]["total"] == 2


def test_report_over_the_article_period_shows_the_published_figures(seeded: Seeded) -> None:
    report = invoke_json("report", "--from", "2024-01-01", "--to", "2024-10-31")
    assert report["article"] == {"total": 1983, "completed": 1924, "in_process": 11, "archived_or_returned": 48}

    table = invoke("report", "--from", "2024-01-01", "--to", "2024-10-31")
    assert table.exit_code == 0
    assert "1983" in table.stdout and "data dukung kurang" in table.stdout and "bukan wewenang" in table.stdout
    assert "Dinas Kesehatan" in table.stdout


def test_report_defaults_to_this_year_so_far(seeded: Seeded) -> None:
    report = invoke_json("report")

    assert report["from"].endswith("-01-01") and report["from"][:4] == report["to"][:4]


def test_report_refuses_bad_dates(seeded: Seeded) -> None:
    assert invoke("report", "--from", "31-10-2024").exit_code == 2
    reversed_period = invoke("report", "--from", "2024-10-31", "--to", "2024-01-01")
    assert reversed_period.exit_code == 2 and "after" in reversed_period.output
