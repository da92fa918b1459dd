"""The mapping as admins read it: what ``mapping check`` finds, the rules in force, and what went to triage.

Triage is where a complaint no rule routes ends up (:meth:`CityMapping.route`), so the cases stored
with rule ``triage``, by category, are the complaints a new category route could take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case as when
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from lapor_sync.domain.masters import UnknownInstitution, unknown_institutions
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.database import sqlite_file_missing
from lapor_sync.storage.faults import database_fault
from lapor_sync.storage.models import Case
from lapor_sync.sync.admin.masters import listed_institutions

if TYPE_CHECKING:
    from lapor_sync.app import App

TRIAGE_RULE = "triage"  # Case.routing_rule of a case no rule routed (Routing.rule)


def summary(mapping: CityMapping) -> dict[str, Any]:
    """What a mapping declares, in counts: institution, agencies, routes, triage, outside institutions."""
    return {
        "institution": {"id": mapping.institution.id, "name": mapping.institution.name},
        "agencies": len(mapping.agencies),
        "category_routes": len(mapping.category_routes),
        "triage_agency": mapping.triage.agency,
        "outside_institutions": len(mapping.outside_institutions),
        "status_codes": len(mapping.status_map),
    }


@dataclass(frozen=True)
class MappingCheck:
    """What ``mapping check`` finds in a mapping that loaded (a wrong file raises while loading).

    Attributes:
        summary: :func:`summary`.
        unknown_institutions: the institution ids the file names that LAPOR!'s stored master list
            does not hold (or no longer holds); ``None`` when they could not be checked.
        not_checked: why they were not checked (no master list stored, database unreadable).
    """

    summary: dict[str, Any]
    unknown_institutions: list[UnknownInstitution] | None
    not_checked: str | None

    def as_dict(self) -> dict[str, Any]:
        """``mapping check --json``: the summary and ``unknown_institutions`` (``id``, ``where``, ``gone_at`` UTC)."""
        unknown = self.unknown_institutions
        return self.summary | {
            "unknown_institutions": None
            if unknown is None
            else [{"id": u.id, "where": u.where, "gone_at": u.gone_at} for u in unknown]
        }


def check_mapping(app: App, mapping: CityMapping) -> MappingCheck:
    """Summarise ``mapping`` and check its institution ids against the stored master list.

    Reads the configured database without creating or upgrading it: a SQLite file that does not
    exist yet counts as nothing stored. A database that cannot be read is said so, and the check
    of the file goes on without it (it is a check of the file first, run where no database may be).

    Args:
        app: the application (its settings and database, opened only when the file exists).
        mapping: the mapping to check (the configured one, or a file being edited).
    """
    try:
        stored = not sqlite_file_missing(app.settings.database_url) and app.db.is_current()
        listed = listed_institutions(app.db, mapping.institution.id) if stored else None
    except SQLAlchemyError as exc:
        return MappingCheck(
            summary(mapping), None, f"cannot read the database ({database_fault(exc) or type(exc).__name__})"
        )
    if listed is None:
        return MappingCheck(summary(mapping), None, "no master institutions are stored; run `lapor-sync masters pull`")
    return MappingCheck(summary(mapping), unknown_institutions(mapping.national_institutions(), listed), None)


def rules_in_force(mapping: CityMapping) -> list[dict[str, Any]]:
    """The routing rules in the order :meth:`CityMapping.route` tries them (an override of one case comes first).

    Returns:
        One dict per rule: ``rule`` (as stored on a case: ``institution:<id>``, ``category:<name>``,
        ``triage``), ``kind`` (``institution``, ``category``, ``triage``), ``agency_code``,
        ``agency_name``, and ``category_id`` for a category route matched by id.
    """
    names = {agency.code: agency.name for agency in mapping.agencies}
    by_institution = [
        {"rule": f"institution:{a.institution_id}", "kind": "institution", "agency_code": a.code}
        for a in mapping.agencies
        if a.institution_id is not None
    ]
    by_category = [
        {"rule": f"category:{r.category}", "kind": "category", "agency_code": r.agency, "category_id": r.category_id}
        for r in mapping.category_routes
    ]
    triage = {"rule": TRIAGE_RULE, "kind": "triage", "agency_code": mapping.triage.agency}
    return [rule | {"agency_name": names.get(rule["agency_code"])} for rule in [*by_institution, *by_category, triage]]


@dataclass(frozen=True)
class TriagedCategory:
    """Cases of one LAPOR category that no rule routed, so they went to triage.

    Attributes:
        category_id: the LAPOR category id, when the complaints carry one.
        category_name: its name, when they carry one.
        cases: how many cases (open or not) were stored with rule ``triage``.
        open_cases: how many of them are still open.
        last_dispositioned_at: the latest disposition among them (aware UTC).
    """

    category_id: int | None
    category_name: str | None
    cases: int
    open_cases: int
    last_dispositioned_at: datetime


def triaged_categories(session: Session, institution_id: int, *, limit: int = 100) -> list[TriagedCategory]:
    """The categories of the cases no rule routed (rule ``triage``), most cases first.

    One grouped query; no title, content or reporter is read.

    Args:
        session: a session on the city's database.
        institution_id: whose cases.
        limit: at most this many categories.
    """
    open_states = [s.value for s in CaseState if s.is_open]
    is_open = func.sum(when((col(Case.state).in_(open_states), 1), else_=0))
    query = (
        select(
            Case.category_id,
            Case.category_name,
            func.count().label("cases"),
            is_open.label("open_cases"),
            func.max(Case.dispositioned_at).label("last"),
        )
        .where(Case.institution_id == institution_id, Case.routing_rule == TRIAGE_RULE)
        .group_by(col(Case.category_id), col(Case.category_name))
        .order_by(func.count().desc(), col(Case.category_name))
        .limit(limit)
    )
    return [TriagedCategory(cid, name, n, int(o or 0), last) for cid, name, n, o, last in session.exec(query)]
