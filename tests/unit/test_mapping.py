"""The packaged Palangka Raya mapping, and routing a complaint to an agency."""

from __future__ import annotations

import dataclasses
import tomllib
from importlib.resources import files

import pytest

from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.routing import CityMapping, NationalCallKind
from lapor_sync.domain.status import CaseState

CITY = 6271


@pytest.fixture(scope="module")
def mapping() -> CityMapping:
    return load_mapping()


def _packaged_data() -> dict:
    return tomllib.loads((files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8"))


def test_packaged_mapping_declares_the_city_and_its_sub_units(mapping: CityMapping) -> None:
    assert (mapping.institution.id, mapping.institution.name) == (CITY, "Pemerintah Kota Palangka Raya")
    assert mapping.triage.agency == "DISKOMINFO"
    assert {agency.institution_id: agency.code for agency in mapping.agencies} == {
        627101: "PUPR", 627102: "DISPERKIMTAN", 627103: "DISHUB", 627104: "DINSOS", 627105: "SATPOLPP",
        627106: "BPBD", 627107: "DAMKAR", 627108: "DLH", 627109: "DISDUKCAPIL", 627110: "DISKOMINFO",
        627111: "DINKES", 627112: "DISTANKP",
    }  # fmt: skip
    assert [known.id for known in mapping.outside_institutions] == [62, 6201, 9001, 9002, 9003, 9004]


def test_disposition_to_an_agency_sub_unit_wins_over_the_category(mapping: CityMapping) -> None:
    routing = mapping.route(627101, 12, "Kesehatan")

    assert (routing.agency_code, routing.rule, routing.is_triage) == ("PUPR", "institution:627101", False)
    assert routing.reason == (
        "Dispositioned to Dinas Pekerjaan Umum dan Penataan Ruang (institution 627101), the national sub-unit of PUPR."
    )


def test_disposition_to_the_city_routes_by_category_name_ignoring_case_and_spacing(mapping: CityMapping) -> None:
    routing = mapping.route(CITY, None, "  pekerjaan umum   dan PENATAAN ruang ")

    assert routing.agency_code == "PUPR"
    assert routing.rule == "category:Pekerjaan Umum dan Penataan Ruang"
    assert not routing.is_triage
    assert "city itself" in routing.reason and "matched by name" in routing.reason


def test_disposition_to_an_unknown_sub_unit_falls_back_to_the_category(mapping: CityMapping) -> None:
    routing = mapping.route(627199, None, "Perhubungan")

    assert routing.agency_code == "DISHUB"
    assert routing.reason.startswith("Dispositioned to institution 627199, not a known sub-unit of the city;")


@pytest.mark.parametrize(
    ("category", "agency"),
    [
        ("Penanggulangan Bencana", "DAMKAR"),
        ("Kesehatan", "DINKES"),
        ("Sosial dan Kesejahteraan", "DINSOS"),
        ("Bantuan Masyarakat", "DINSOS"),
        ("Pekerjaan Umum dan Penataan Ruang", "PUPR"),
        ("Perhubungan", "DISHUB"),
        ("Ketentraman, Ketertiban Umum, dan Perlindungan Masyarakat", "SATPOLPP"),
        ("Lingkungan Hidup dan Kehutanan", "DLH"),
        ("Kependudukan", "DISDUKCAPIL"),
        ("Perumahan", "DISPERKIMTAN"),
        ("Teknologi Informasi dan Komunikasi", "DISKOMINFO"),
        ("SP4N Lapor", "DISKOMINFO"),
        ("Pertanian dan Peternakan", "DISTANKP"),
    ],
)
def test_packaged_category_routes_follow_the_domain_defaults(mapping: CityMapping, category: str, agency: str) -> None:
    routing = mapping.route(CITY, None, category)

    assert (routing.agency_code, routing.rule) == (agency, f"category:{category}")


def test_an_unmapped_category_goes_to_triage_and_says_why(mapping: CityMapping) -> None:
    routing = mapping.route(CITY, 43, "Topik Lainnya")

    assert (routing.agency_code, routing.rule, routing.is_triage) == ("DISKOMINFO", "triage", True)
    assert routing.reason == (
        "Dispositioned to the city itself (Pemerintah Kota Palangka Raya, institution 6271); "
        "no category route matches category 'Topik Lainnya' (id 43), so it goes to triage at DISKOMINFO."
    )


def test_a_complaint_without_disposition_or_category_goes_to_triage(mapping: CityMapping) -> None:
    routing = mapping.route(None, None, None)

    assert routing.is_triage
    assert routing.reason.startswith("No disposition on the complaint; no category route matches a complaint without")


def test_a_disposition_outside_the_city_is_named_in_the_reason(mapping: CityMapping) -> None:
    routing = mapping.route(9002, None, "Bantuan Masyarakat")

    assert routing.agency_code == "DINSOS"
    assert "Kementerian Sosial (institution 9002), outside the city" in routing.reason


def test_a_route_with_a_category_id_matches_by_id_when_the_complaint_has_one() -> None:
    data = _packaged_data()
    for route in data["category_route"]:
        if route["category"] == "Perhubungan":
            route["category_id"] = 31
    mapping = CityMapping.model_validate(data)

    by_id = mapping.route(CITY, 31, "Transportasi")  # a renamed category still matches by its id
    assert (by_id.agency_code, by_id.rule) == ("DISHUB", "category:Perhubungan")
    assert "matched by id 31" in by_id.reason
    assert mapping.route(CITY, 30, "Perhubungan").is_triage  # both sides carry ids: the id decides
    assert mapping.route(CITY, None, "Perhubungan").agency_code == "DISHUB"  # no id: by name


def test_routing_is_immutable(mapping: CityMapping) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        mapping.route(CITY, None, None).agency_code = "DISHUB"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (0, CaseState.NEW),
        (1, CaseState.NEW),
        (2, CaseState.IN_PROGRESS),
        (3, CaseState.COMPLETED),
        (4, CaseState.ARCHIVED),
        (5, CaseState.REJECTED),
        (6, None),
        (99, None),
    ],
)
def test_status_codes_map_to_case_states_and_unknown_codes_to_none(
    mapping: CityMapping, code: int, state: CaseState | None
) -> None:
    assert mapping.case_state_for(code) is state


def test_every_agency_action_has_its_national_call(mapping: CityMapping) -> None:
    followup = mapping.national_call_for(AgencyAction.FOLLOWUP)
    complete = mapping.national_call_for(AgencyAction.COMPLETE)
    archive = mapping.national_call_for(AgencyAction.RETURN)
    forward = mapping.national_call_for(AgencyAction.FORWARD)

    assert (followup.call, followup.status_code, followup.not_authority) == (NationalCallKind.FOLLOWUP, None, None)
    assert (complete.call, complete.status_code) == (NationalCallKind.STATUS, 3)
    assert (archive.call, archive.not_authority) == (NationalCallKind.REJECT, False)
    assert (forward.call, forward.not_authority) == (NationalCallKind.REJECT, True)
    assert mapping.national_call_for("complete") == complete  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        mapping.national_call_for("reopen")  # type: ignore[arg-type]


def test_lookups_by_code_sub_unit_and_outside_institution(mapping: CityMapping) -> None:
    dishub = mapping.agency(" dishub ")
    assert dishub is not None and dishub.name == "Dinas Perhubungan" and dishub.abbreviation == "Dishub"
    assert mapping.agency("DISPORA") is None
    kominfo = mapping.agency_for_institution(627110)
    assert kominfo is not None and kominfo.code == "DISKOMINFO"
    assert mapping.agency_for_institution(CITY) is None
    kemensos = mapping.outside_institution(9002)
    assert kemensos is not None and kemensos.name == "Kementerian Sosial"
    assert mapping.outside_institution(627101) is None


@pytest.mark.parametrize(
    ("disposition_id", "in_city"),
    [(CITY, True), (627105, True), (None, True), (62, False), (9002, False), (627199, False)],
)
def test_is_city_institution(mapping: CityMapping, disposition_id: int | None, in_city: bool) -> None:
    assert mapping.is_city_institution(disposition_id) is in_city


def test_an_agency_acts_as_its_sub_unit_or_else_as_the_city(mapping: CityMapping) -> None:
    assert mapping.acting_institution("DISHUB") == 627103
    without_sub_unit = mapping.model_copy(
        update={
            "agencies": [
                a.model_copy(update={"institution_id": None}) if a.code == "DISHUB" else a for a in mapping.agencies
            ]
        }
    )
    assert without_sub_unit.acting_institution("DISHUB") == 6271
