"""Explain where a complaint is routed under the current mapping: which agency, by which rule, and why.

What ``lapor-sync mapping explain`` prints and the console's case page shows, from one place.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlmodel import Session

from lapor_sync.adapters.city.builtin import BuiltinCityRecords, CaseNotFound
from lapor_sync.domain.routing import AgencyOverride, CityMapping
from lapor_sync.storage.models import Case
from lapor_sync.sync.admin.reassign import Reassignment, find_override


def override_fields(override: AgencyOverride | None) -> dict[str, Any] | None:
    """An override as data (``set_at`` aware UTC; ``description`` with WIB, for people), or ``None``."""
    return None if override is None else {**asdict(override), "description": override.describe()}


def reassignment_fields(done: Reassignment) -> dict[str, Any]:
    """What a reassign or a clear did, as data (``case reassign --json`` and the console's API).

    Returns:
        ``case_id``, ``tracking_id``, ``previous_agency``, ``agency_code`` (now), ``rule`` and ``reason``
        (the routing's), and ``override`` (:func:`override_fields`; ``None`` after a clear).
    """
    return {
        "case_id": done.case_id,
        "tracking_id": done.tracking_id,
        "previous_agency": done.previous_agency,
        "agency_code": done.routing.agency_code,
        "rule": done.routing.rule,
        "reason": done.routing.reason,
        "override": override_fields(done.override),
    }


def explain_routing(
    mapping: CityMapping,
    disposition_id: int | None,
    category_id: int | None,
    category_name: str | None,
    *,
    case: Case | None = None,
    override: AgencyOverride | None = None,
) -> dict[str, Any]:
    """Say which agency a complaint goes to now, by which rule and why; no personal data.

    Args:
        mapping: the mapping in force.
        disposition_id: the national institution the complaint is dispositioned to, if any.
        category_id: its LAPOR category id, if any.
        category_name: its LAPOR category name, if any.
        case: its stored case, shown beside the mapping's choice (id, tracking id, agency, rule, state).
        override: the case's override, which wins while its agency is in the mapping.

    Returns:
        ``input``, ``agency_code``, ``agency_name``, ``rule``, ``reason``, ``is_triage``,
        ``leaves_city`` (the disposition is outside the city), ``case`` (or ``None``) and
        ``override`` (:func:`override_fields`).
    """
    routing = mapping.route(disposition_id, category_id, category_name, override)
    agency = mapping.agency(routing.agency_code)
    stored = (
        None
        if case is None
        else {
            "id": case.id,
            "tracking_id": case.tracking_id,
            "agency_code": case.agency_code,
            "routing_rule": case.routing_rule,
            "state": case.state,
        }
    )
    return {
        "input": {"disposition_id": disposition_id, "category_id": category_id, "category_name": category_name},
        "agency_code": routing.agency_code,
        "agency_name": agency.name if agency else None,
        "rule": routing.rule,
        "reason": routing.reason,
        "is_triage": routing.is_triage,
        "leaves_city": not mapping.is_city_institution(disposition_id),
        "case": stored,
        "override": override_fields(override),
    }


def explain_case(session: Session, mapping: CityMapping, case: Case) -> dict[str, Any]:
    """Explain a stored case's routing from its disposition and category, with its override (see :func:`explain_routing`)."""
    override = find_override(session, case.id) if case.id is not None else None
    return explain_routing(
        mapping, case.disposition_id, case.category_id, case.category_name, case=case, override=override
    )


def explain_complaint(records: BuiltinCityRecords, mapping: CityMapping, complaint_id: int) -> dict[str, Any]:
    """Explain the stored case of national complaint ``complaint_id`` (see :func:`explain_case`).

    Raises:
        CaseNotFound: the city has no case of that complaint.
    """
    case = records.find_by_complaint(complaint_id)
    if case is None:
        raise CaseNotFound(f"complaint {complaint_id} is not in the city's records")
    return explain_case(records.session, mapping, case)
