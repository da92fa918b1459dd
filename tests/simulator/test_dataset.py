"""The simulator's data set "palangka-raya-2024" and its working-day calendar."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from lapor_sync.simulator.catalog import CATEGORIES, CITY_ID, PLACES, institution_tree
from lapor_sync.simulator.dataset import TOTAL, generate
from lapor_sync.simulator.model import Complaint
from lapor_sync.simulator.workdays import WIB, add_working_days, is_working_day, next_working_day_at

TREE = institution_tree(CITY_ID)


@pytest.fixture(scope="module")
def complaints() -> list[Complaint]:
    return generate(2024)[0]


def test_same_seed_same_data_and_other_seed_other_data(complaints: list[Complaint]) -> None:
    again = generate(2024)[0]
    assert [dataclasses.asdict(c) for c in again] == [dataclasses.asdict(c) for c in complaints]
    assert [c.title for c in generate(7)[0]] != [c.title for c in complaints]


def test_exactly_1983_complaints_in_the_period_on_working_days_in_office_hours(
    complaints: list[Complaint],
) -> None:
    assert len(complaints) == TOTAL == 1983
    for c in complaints:
        local = c.dispositioned_at.astimezone(WIB)
        assert date(2024, 1, 1) <= local.date() <= date(2024, 10, 31)
        assert is_working_day(local.date()), local
        assert time(8) <= local.time() <= time(16)
        assert timedelta(0) <= c.dispositioned_at - c.created_at <= timedelta(days=3)
        assert c.updated_at == c.dispositioned_at
        assert c.disposition_id in TREE and c.status_code == 1


def test_spread_about_ten_per_working_day_and_none_on_holidays(complaints: list[Complaint]) -> None:
    per_day = Counter(c.dispositioned_at.astimezone(WIB).date() for c in complaints)
    assert all(8 <= n <= 12 for n in per_day.values())
    assert date(2024, 4, 10) not in per_day  # Idul Fitri
    assert date(2024, 4, 8) not in per_day  # cuti bersama
    assert date(2024, 1, 6) not in per_day  # a Saturday
    assert 195 <= len(per_day) <= 200  # every working day of Jan-Oct 2024 has complaints


def test_ids_increase_in_disposition_order_and_tracking_ids_differ(complaints: list[Complaint]) -> None:
    ids = [c.complaint_id for c in complaints]
    assert ids == list(range(3_100_001, 3_100_001 + 1983))
    assert [c.dispositioned_at for c in complaints] == sorted(c.dispositioned_at for c in complaints)
    tracking = [int(c.tracking_id) for c in complaints]
    assert all(len(c.tracking_id) == 7 for c in complaints)
    assert all(b > a for a, b in zip(tracking, tracking[1:], strict=False))
    assert not set(tracking) & set(ids)


def test_mix_of_categories_dispositions_and_flags(complaints: list[Complaint]) -> None:
    top_five = [CATEGORIES[cid - 1] for cid, _ in Counter(c.category_id for c in complaints).most_common(5)]
    assert set(top_five) <= {
        "Pekerjaan Umum dan Penataan Ruang",
        "Sosial dan Kesejahteraan",
        "Bantuan Masyarakat",
        "Perhubungan",
        "Ketentraman, Ketertiban Umum, dan Perlindungan Masyarakat",
        "Penanggulangan Bencana",
        "Kesehatan",
    }
    others = [c for c in complaints if CATEGORIES[c.category_id - 1] == "Topik Lainnya"]
    assert 0.01 < len(others) / 1983 < 0.035 and all(c.disposition_id == CITY_ID for c in others)
    direct = sum(c.disposition_id != CITY_ID for c in complaints) / 1983
    assert 0.55 < direct < 0.65
    anonymous = [c for c in complaints if c.is_anonymous]
    assert 0.12 < len(anonymous) / 1983 < 0.18 and all(c.reporter is None for c in anonymous)
    assert 0.03 < sum(c.is_secret for c in complaints) / 1983 < 0.07
    assert 0.015 < sum(c.is_priority for c in complaints) / 1983 < 0.045
    assert {c.channel for c in complaints} == {1, 2, 3, 4, 5, 6}
    assert {c.classification_id for c in complaints} == {1, 2, 3}
    assert {c.location_id for c in complaints} <= {p.location_id for p in PLACES}


def test_texts_mention_the_kelurahan_and_reporters_are_obviously_fake(complaints: list[Complaint]) -> None:
    for c in complaints:
        kelurahan = c.location_name.split(",")[0].removeprefix("Kel. ")
        assert kelurahan in c.title + c.content
        if c.reporter is not None:
            assert c.reporter.phone is not None and c.reporter.phone.startswith("0812-0000-")
            assert c.reporter.email is None or c.reporter.email.endswith("@contoh.id")
    assert any("\r\n" in c.content for c in complaints)
    assert any("<p>" in c.content or "<br>" in c.content for c in complaints)
    assert any(len(c.content) > 10_000 for c in complaints)


def test_working_days_skip_weekends_and_idul_fitri() -> None:
    # Tue 2 Apr 2024 + 10 working days: 3, 4, 5 Apr, then 8-15 Apr off (Idul Fitri, cuti bersama).
    start = datetime(2024, 4, 2, 10, 0, tzinfo=WIB)
    assert add_working_days(start, 10) == datetime(2024, 4, 24, 10, 0, tzinfo=WIB).astimezone(UTC)
    assert next_working_day_at(datetime(2024, 4, 5, 15, 0, tzinfo=WIB), time(10)) == datetime(
        2024, 4, 16, 10, 0, tzinfo=WIB
    )


def test_every_template_title_has_its_own_body() -> None:
    from lapor_sync.simulator import texts

    for titles, bodies in [*texts._TEMPLATES.values(), texts._GENERIC]:
        assert len(titles) == len(bodies)
