"""An admin's override of one case wins over the mapping's rules, while its agency is in the mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.routing import OVERRIDE_RULE, AgencyOverride, CityMapping

CITY, DISHUB_UNIT = 6271, 627103
SET_AT = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 21:30 WIB


@pytest.fixture(scope="module")
def mapping() -> CityMapping:
    return load_mapping()


def test_an_override_wins_over_the_sub_unit_and_says_who_when_why_and_what_the_mapping_would_do(
    mapping: CityMapping,
) -> None:
    override = AgencyOverride("SATPOLPP", "siti", SET_AT, "parkir liar")

    routing = mapping.route(DISHUB_UNIT, None, "Perhubungan", override)

    assert (routing.agency_code, routing.rule, routing.is_triage) == ("SATPOLPP", OVERRIDE_RULE, False)
    assert routing.reason == (
        "reassigned to SATPOLPP by siti on 2026-12-07 21:30 WIB: parkir liar; "
        "the mapping alone would route it to DISHUB."
    )


def test_without_an_override_or_with_one_to_an_agency_the_mapping_dropped_the_rules_decide(
    mapping: CityMapping,
) -> None:
    by_rules = mapping.route(CITY, None, "Perhubungan")
    gone = AgencyOverride("DISHUBLLAJ", "siti", SET_AT, "unit lama")

    assert mapping.route(CITY, None, "Perhubungan", None) == by_rules
    assert mapping.route(CITY, None, "Perhubungan", gone) == by_rules
    assert by_rules.agency_code == "DISHUB"
