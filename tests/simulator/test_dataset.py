"""The simulator's data set "palangka-raya-2024" and its working-day calendar."""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
    assert_the_article_mix(complaints)


def assert_the_article_mix(complaints: list[Complaint]) -> None:
    """The shares of categories, direct dispositions, flags, channels and places of the 2024 data set."""
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
    assert 0.01 < len(others) / len(complaints) < 0.035 and all(c.disposition_id == CITY_ID for c in others)
    direct = sum(c.disposition_id != CITY_ID for c in complaints) / len(complaints)
    assert 0.55 < direct < 0.65
    anonymous = [c for c in complaints if c.is_anonymous]
    assert 0.12 < len(anonymous) / len(complaints) < 0.18 and all(c.reporter is None for c in anonymous)
    assert 0.03 < sum(c.is_secret for c in complaints) / len(complaints) < 0.07
    assert 0.015 < sum(c.is_priority for c in complaints) / len(complaints) < 0.045
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


def test_the_default_data_set_is_byte_for_byte_the_one_the_demo_was_built_on(complaints: list[Complaint]) -> None:
    # The demo's 1,983 / 1,924 / 11 / 48 rest on exactly this data: the size option must not move it.
    encoded = json.dumps([dataclasses.asdict(c) for c in complaints], default=str).encode()
    assert hashlib.sha256(encoded).hexdigest() == "d4d791bd7b2d3849534aa14eb04c56cf9106ec4fe904fcaef42455cb99ce7cd3"
    assert generate(2024, TOTAL)[1] == generate(2024)[1]


@pytest.fixture(scope="module")
def ten_thousand() -> list[Complaint]:
    return generate(2024, complaints=10_000)[0]


def test_another_size_has_exactly_n_complaints_in_the_same_period_and_the_same_mix(
    ten_thousand: list[Complaint],
) -> None:
    assert len(ten_thousand) == 10_000
    assert [c.complaint_id for c in ten_thousand] == list(range(3_100_001, 3_110_001))
    assert [c.dispositioned_at for c in ten_thousand] == sorted(c.dispositioned_at for c in ten_thousand)
    per_day = Counter(c.dispositioned_at.astimezone(WIB).date() for c in ten_thousand)
    assert 195 <= len(per_day) <= 200 and all(is_working_day(day) for day in per_day)
    scale = 10_000 / TOTAL
    assert all(8 * scale - 1 <= n <= 12 * scale + 1 for n in per_day.values())
    assert min(c.dispositioned_at for c in ten_thousand).astimezone(WIB).date() == date(2024, 1, 2)
    assert max(c.dispositioned_at for c in ten_thousand).astimezone(WIB).date() == date(2024, 10, 31)
    assert_the_article_mix(ten_thousand)
    assert 20 <= sum(len(c.content) > 10_000 for c in ten_thousand) <= 90  # about 1 in 200


def test_another_size_is_deterministic_for_a_seed() -> None:
    first, again, other = generate(5, complaints=300)[0], generate(5, complaints=300)[0], generate(6, complaints=300)
    assert [dataclasses.asdict(c) for c in first] == [dataclasses.asdict(c) for c in again]
    assert [c.title for c in other[0]] != [c.title for c in first]


@pytest.mark.parametrize("size", [1, 7, 250])
def test_small_sizes_are_served_too(size: int) -> None:
    complaints = generate(2024, complaints=size)[0]
    assert len(complaints) == size
    assert all(is_working_day(c.dispositioned_at.astimezone(WIB).date()) for c in complaints)


@pytest.mark.parametrize("size", [0, -5, 10**9])
def test_a_size_out_of_range_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="complaints must be between 1 and"):
        generate(2024, complaints=size)


def test_equal_texts_share_one_string_so_a_large_data_set_stays_small(ten_thousand: list[Complaint]) -> None:
    by_value: dict[str, str] = {}
    for c in ten_thousand:
        for text in (c.title, c.content, c.location_name):
            assert by_value.setdefault(text, text) is text
    assert len(by_value) < len(ten_thousand)


def test_the_spreading_loop_has_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from lapor_sync.simulator import dataset

    monkeypatch.setattr(dataset, "_DRAWS_PER_STEP", 0)
    with pytest.raises(RuntimeError, match="did not add up"):
        generate(2024)
