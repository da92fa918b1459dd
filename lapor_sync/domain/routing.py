"""The city mapping as a validated model, and the rules that route a complaint to an agency."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.privacy import PrivacyRules
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib

StatusCode = Annotated[int, Field(ge=0, le=99)]
PositiveId = Annotated[int, Field(ge=1)]  # national institution and category ids
AgencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,19}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Loc = tuple[str | int, ...]


class NationalCallKind(StrEnum):
    """The national write endpoints an action can use (CONTRACT §5)."""

    FOLLOWUP = "followup"  # POST /complaints/followup/add
    STATUS = "status"  # POST /complaints/process/{id}/status
    REJECT = "reject"  # POST /complaints/process/{id}/reject: a request an admin approves later


_CALL_ARGUMENT = {NationalCallKind.STATUS: "status_code", NationalCallKind.REJECT: "not_authority"}


def _refuse(model: str, problems: list[tuple[Loc, str]]) -> None:
    """Raise one ``ValidationError`` carrying every problem at its own key path, if any."""
    if problems:
        raise ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(type=PydanticCustomError("mapping", reason), loc=loc, input=None)
                for loc, reason in problems
            ],
        )


def _duplicates(section: str, key: str, values: list[object]) -> Iterator[tuple[Loc, str]]:
    """Yield a problem for each entry of ``section`` whose ``key`` repeats an earlier one (not ``None``)."""
    first: dict[object, int] = {}
    for i, value in enumerate(values):
        if value is not None and value in first:
            yield (section, i, key), f"same {key} as {section}[{first[value]}]"
        first.setdefault(value, i)


def _describe_category(category_id: int | None, category_name: str | None) -> str:
    """Name a complaint's category for a routing reason: "category 'Agama' (id 1)", "category id 1"."""
    if category_name:
        return f"category '{category_name}'" + (f" (id {category_id})" if category_id is not None else "")
    return f"category id {category_id}" if category_id is not None else "a complaint without a category"


def normalise_name(name: str) -> str:
    """Return a category name for comparison: case folded, runs of white space made one space."""
    return " ".join(name.split()).casefold()


class _MappingModel(BaseModel):
    """Base of the mapping's parts: immutable, and unknown keys are refused (typos must not pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Institution(_MappingModel):
    """An institution on the national platform: the city itself, or one outside it."""

    id: PositiveId
    name: Text


class Agency(_MappingModel):
    """One of the city's agencies (OPD); ``institution_id`` is its national sub-unit, if it has one."""

    code: AgencyCode
    name: Text
    abbreviation: Text | None = None
    institution_id: PositiveId | None = None


class TriageRule(_MappingModel):
    """The agency that receives what no rule routes (in Palangka Raya: the LAPOR coordinator)."""

    agency: AgencyCode


class CategoryRoute(_MappingModel):
    """Routes complaints of one LAPOR category (by name, or by id when given) to an agency."""

    category: Text
    category_id: PositiveId | None = None
    agency: AgencyCode

    def match(self, category_id: int | None, category_name: str | None) -> str | None:
        """Return how this route matches the complaint's category ("id 31", "name"), or ``None``.

        A route with an id matches a complaint carrying an id by that id alone; otherwise names are
        compared after :func:`normalise_name`.
        """
        if self.category_id is not None and category_id is not None:
            return f"id {category_id}" if category_id == self.category_id else None
        if category_name is not None and normalise_name(category_name) == normalise_name(self.category):
            return "name"
        return None


class NationalCall(_MappingModel):
    """The national call that reports an action: a follow-up post, a status change or a reject request.

    ``status_code`` is required for (and only for) ``status``; ``not_authority`` for ``reject``
    (``True``: forward to another institution; ``False``: archive and return to the reporter).
    An outbox row stores its call among its payload's keys (:meth:`as_payload`,
    :meth:`from_payload`), so what a row sends is what was declared when staff acted.
    """

    call: NationalCallKind
    status_code: StatusCode | None = None
    not_authority: bool | None = None

    def as_payload(self) -> dict[str, object]:
        """Return the call as outbox payload keys: ``call`` and its argument, if it has one.

        For example ``{"call": "status", "status_code": 3}``.
        """
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> NationalCall:
        """Return the call an outbox payload stores (see :meth:`as_payload`).

        A row written before rows stored their call has no ``call`` key: its call is rebuilt from its
        own keys, which the code of that time wrote for exactly one call each (``status_code``: a
        status change to that code; ``not_authority``: a reject request with it; neither: a
        follow-up post), so what a queued row sends never depends on a later mapping.

        Raises:
            ValidationError: the stored call is not a valid one.
        """
        stored = {name: payload[name] for name in cls.model_fields if name in payload}
        if "call" not in stored:
            stored["call"] = next(
                (kind for kind, argument in _CALL_ARGUMENT.items() if argument in stored), NationalCallKind.FOLLOWUP
            )
        return cls.model_validate(stored)

    @model_validator(mode="after")
    def _check_arguments(self) -> NationalCall:
        needed = _CALL_ARGUMENT.get(self.call)
        problems: list[tuple[Loc, str]] = []
        for argument in ("status_code", "not_authority"):
            given = getattr(self, argument) is not None
            if argument == needed and not given:
                problems.append(((argument,), f"required for call '{self.call}'"))
            elif argument != needed and given:
                problems.append(((argument,), f"not allowed for call '{self.call}'"))
        _refuse(type(self).__name__, problems)
        return self


def _flag(value: bool | None) -> str:
    """A boolean as the mapping file spells it."""
    return str(value).lower()


@dataclass(frozen=True, slots=True)
class _ActionCall:
    """The national call that does what an agency action means: the only one CONTRACT §5 leaves it.

    A follow-up is a follow-up post. A completion is a status change to Selesai: LAPOR! lets an
    institution change a status only from Terverifikasi to Dalam Proses (the first follow-up does
    that) and from Dalam Proses to Selesai, and refuses any other change with 422; the codes are the
    mapping's (CONTRACT §3), so a completion's is one that ``status_map`` maps to ``completed``. A
    return is a reject request with ``not_authority`` 0 (archive, return to the reporter; a status
    change to Diarsipkan would be refused), a forward one with ``not_authority`` 1.

    Attributes:
        call: the endpoint.
        meaning: what the call does, for a refusal.
        not_authority: the flag a reject request must carry.
        state: the case state ``status_map`` must give a status change's code.
    """

    call: NationalCallKind
    meaning: str
    not_authority: bool | None = None
    state: CaseState | None = None

    def problem(self, declared: NationalCall, status_map: Mapping[int, CaseState]) -> tuple[str, str] | None:
        """Return the key of ``declared`` that breaks this rule and the reason, or ``None`` when it keeps it."""
        if declared.call is not self.call:
            return "call", self._refusal(f"'{self.call}'", f"'{declared.call}'")
        if self.not_authority is not None and declared.not_authority is not self.not_authority:
            return "not_authority", self._refusal(_flag(self.not_authority), _flag(declared.not_authority))
        if self.state is None or declared.status_code is None:
            return None
        state = status_map.get(declared.status_code)
        if state is None:
            return "status_code", f"{declared.status_code} is not in status_map"
        if state is not self.state:
            wanted = f"a code status_map maps to '{self.state}'"
            return "status_code", self._refusal(wanted, f"{declared.status_code} ('{state}')")
        return None

    def _refusal(self, wanted: str, got: str) -> str:
        return f"must be {wanted} ({self.meaning}, CONTRACT §5), got {got}"


_ACTION_CALLS = {
    AgencyAction.FOLLOWUP: _ActionCall(NationalCallKind.FOLLOWUP, "a follow-up is posted to the complaint's thread"),
    AgencyAction.COMPLETE: _ActionCall(
        NationalCallKind.STATUS, "a completion is Dalam Proses -> Selesai", state=CaseState.COMPLETED
    ),
    AgencyAction.RETURN: _ActionCall(
        NationalCallKind.REJECT, "a return is a request to archive and return to the reporter", not_authority=False
    ),
    AgencyAction.FORWARD: _ActionCall(
        NationalCallKind.REJECT, "a forward is a request to forward to another institution", not_authority=True
    ),
}
"""Each agency action's one national call (see :class:`_ActionCall`)."""


@dataclass(frozen=True, slots=True)
class Routing:
    """Where a complaint goes, and why.

    Attributes:
        agency_code: the agency that handles it.
        rule: the rule that decided, e.g. ``"institution:627101"``, ``"category:Perhubungan"``, ``"triage"``.
        reason: a sentence for people (sync events, ``case explain``); free of personal data.
        is_triage: ``True`` when no rule matched and the triage agency got it.
    """

    agency_code: str
    rule: str
    reason: str
    is_triage: bool = False


OVERRIDE_RULE = "override"
"""The routing rule a case reassigned by hand carries (``case.routing_rule``)."""


@dataclass(frozen=True, slots=True)
class AgencyOverride:
    """An admin's reassignment of one case: it stays with ``agency_code`` until the override is cleared.

    Attributes:
        agency_code: the agency the case is kept with.
        set_by: who set it (the OS user of the command, or the console's user).
        set_at: when (aware UTC).
        reason: why, as typed (personal data already masked).
    """

    agency_code: str
    set_by: str
    set_at: datetime
    reason: str

    def describe(self) -> str:
        """Say who reassigned the case, when (WIB) and why, for events and displays."""
        return f"reassigned to {self.agency_code} by {self.set_by} on {display_wib(self.set_at)}: {self.reason}"


class CityMapping(_MappingModel):
    """A city's routing, as declared in its mapping file (see ``mappings/palangka-raya.toml``).

    Validation refuses unknown keys, agency codes that do not exist, duplicate agencies, sub-units,
    category routes and outside institutions, status codes outside 0..99, the ``forwarded`` state in
    the status map (the engine sets it), and an action map that misses an action or declares a call
    that cannot do what its action means on LAPOR! (:data:`_ACTION_CALLS`). Every problem is
    reported at its key path (e.g. ``category_route[3].agency``) in one ``ValidationError``; the
    cross-reference checks run once every entry has the right shape. ``privacy`` (optional) names
    the console roles that may read confidential content (:class:`~lapor_sync.domain.privacy.PrivacyRules`).
    """

    model_config = ConfigDict(populate_by_name=True)

    institution: Institution
    triage: TriageRule
    agencies: tuple[Agency, ...] = Field(alias="agency", min_length=1)
    category_routes: tuple[CategoryRoute, ...] = Field(default=(), alias="category_route")
    status_map: dict[StatusCode, CaseState] = Field(min_length=1)
    action_map: dict[AgencyAction, NationalCall]
    outside_institutions: tuple[Institution, ...] = Field(default=(), alias="outside_institution")
    privacy: PrivacyRules = Field(default_factory=PrivacyRules)

    @model_validator(mode="after")
    def _check_references(self) -> CityMapping:
        routes, outside = self.category_routes, self.outside_institutions
        problems = [
            *_duplicates("agency", "code", [agency.code for agency in self.agencies]),
            *_duplicates("agency", "institution_id", [agency.institution_id for agency in self.agencies]),
            *_duplicates("category_route", "category", [normalise_name(route.category) for route in routes]),
            *_duplicates("category_route", "category_id", [route.category_id for route in routes]),
            *_duplicates("outside_institution", "id", [known.id for known in outside]),
            *self._unknown_agencies(),
            *self._misplaced_institutions(),
            *self._state_and_action_problems(),
        ]
        _refuse(type(self).__name__, problems)
        return self

    def _unknown_agencies(self) -> Iterator[tuple[Loc, str]]:
        """Agency codes referenced by the triage rule or a category route that no agency has."""
        codes = {agency.code for agency in self.agencies}
        if self.triage.agency not in codes:
            yield ("triage", "agency"), f"unknown agency code '{self.triage.agency}'"
        for i, route in enumerate(self.category_routes):
            if route.agency not in codes:
                yield ("category_route", i, "agency"), f"unknown agency code '{route.agency}'"

    def _misplaced_institutions(self) -> Iterator[tuple[Loc, str]]:
        """A sub-unit that is the city itself; an outside institution that is the city or a sub-unit."""
        sub_units = {agency.institution_id for agency in self.agencies}
        for i, agency in enumerate(self.agencies):
            if agency.institution_id == self.institution.id:
                yield ("agency", i, "institution_id"), f"{agency.institution_id} is the city, not a sub-unit"
        for i, known in enumerate(self.outside_institutions):
            if known.id == self.institution.id or known.id in sub_units:
                yield ("outside_institution", i, "id"), f"{known.id} is the city or one of its sub-units"

    def _state_and_action_problems(self) -> Iterator[tuple[Loc, str]]:
        """``forwarded`` in the status map; actions missing; calls that cannot do what their action means.

        Each action must be declared as its one call of :data:`_ACTION_CALLS` (CONTRACT §5), a
        completion with a status code the status map has. A return declared as a reject request
        needs a code the status map maps to ``archived``: the push's read-back finds the request
        approved by that state (``Pusher._read_back``).
        """
        for code, state in self.status_map.items():
            if state is CaseState.FORWARDED:
                yield ("status_map", str(code)), "'forwarded' is set by the engine, never by a status code"
        if missing := [action.value for action in AgencyAction if action not in self.action_map]:
            yield ("action_map",), f"missing action(s): {', '.join(missing)}"
        for action, call in self.action_map.items():
            if broken := _ACTION_CALLS[action].problem(call, self.status_map):
                key, reason = broken
                yield ("action_map", action.value, key), reason
        returned = self.action_map.get(AgencyAction.RETURN)
        if returned and returned.call is NationalCallKind.REJECT and CaseState.ARCHIVED not in self.status_map.values():
            yield ("status_map",), "no code maps to 'archived', which the read-back of action_map.return looks for"

    def agency(self, code: str) -> Agency | None:
        """Return the agency with this code (case and surrounding space ignored), or ``None``."""
        wanted = code.strip().upper()
        return next((agency for agency in self.agencies if agency.code == wanted), None)

    def national_institutions(self) -> list[tuple[int, str]]:
        """Every national institution id the file names, with where, in the file's order.

        For example ``(6271, "institution")``, ``(627101, "agency PUPR")``, ``(9001, "outside_institution")``.
        """
        return [
            (self.institution.id, "institution"),
            *((a.institution_id, f"agency {a.code}") for a in self.agencies if a.institution_id is not None),
            *((known.id, "outside_institution") for known in self.outside_institutions),
        ]

    def agency_for_institution(self, institution_id: int) -> Agency | None:
        """Return the agency whose national sub-unit is ``institution_id``, or ``None``."""
        return next((agency for agency in self.agencies if agency.institution_id == institution_id), None)

    def acting_institution(self, agency_code: str) -> int:
        """Return the national institution an agency's actions are posted as: its sub-unit, else the city."""
        agency = self.agency(agency_code)
        return agency.institution_id if agency and agency.institution_id else self.institution.id

    def is_city_institution(self, disposition_id: int | None) -> bool:
        """Tell whether a disposition keeps the complaint in the city.

        ``True`` for the city itself, one of its agencies' sub-units, or no disposition at all
        (nothing says it left). Any other id, known outside institution or not, means the complaint
        has left the city (the engine then marks the case forwarded), so a new sub-unit must be
        added to the mapping before complaints reach it.
        """
        return (
            disposition_id is None
            or disposition_id == self.institution.id
            or self.agency_for_institution(disposition_id) is not None
        )

    def outside_institution(self, institution_id: int) -> Institution | None:
        """Return the known institution outside the city with this id (a forward target), or ``None``."""
        return next((known for known in self.outside_institutions if known.id == institution_id), None)

    def case_state_for(self, status_code: int) -> CaseState | None:
        """Return the case state for a national status code (CONTRACT §3).

        ``None`` for a code the mapping does not know: the caller stores it raw and leaves the
        state unchanged.
        """
        return self.status_map.get(status_code)

    def national_call_for(self, action: AgencyAction) -> NationalCall:
        """Return the national call that reports ``action`` (validation guarantees every action has one).

        Raises:
            ValueError: ``action`` is not an :class:`AgencyAction` value.
        """
        return self.action_map[AgencyAction(action)]

    def route(
        self,
        disposition_id: int | None,
        category_id: int | None,
        category_name: str | None,
        override: AgencyOverride | None = None,
    ) -> Routing:
        """Decide which agency handles a complaint.

        An admin's override of its case wins while its agency is still in the mapping (an override
        naming an agency the file no longer has is ignored: a case cannot stay with no agency).
        Then: a disposition to an agency's national sub-unit wins; a disposition to the city
        itself (or to an id the mapping does not know as a sub-unit) goes by category route; what
        no route matches goes to the triage agency.

        Args:
            disposition_id: the national institution the complaint is dispositioned to, if any.
            category_id: the complaint's LAPOR category id, if any.
            category_name: the complaint's LAPOR category name, if any.
            override: the case's override (:class:`AgencyOverride`), if an admin set one.
        """
        routing = self._route_by_rules(disposition_id, category_id, category_name)
        if override is None or self.agency(override.agency_code) is None:
            return routing
        return Routing(
            override.agency_code,
            OVERRIDE_RULE,
            f"{override.describe().rstrip('.')}; the mapping alone would route it to {routing.agency_code}.",
        )

    def _route_by_rules(
        self, disposition_id: int | None, category_id: int | None, category_name: str | None
    ) -> Routing:
        """Decide by the mapping's rules alone (see :meth:`route`)."""
        if disposition_id is not None and (agency := self.agency_for_institution(disposition_id)):
            return Routing(
                agency.code,
                f"institution:{disposition_id}",
                f"Dispositioned to {agency.name} (institution {disposition_id}), "
                f"the national sub-unit of {agency.code}.",
            )
        where = self._describe_disposition(disposition_id)
        for route in self.category_routes:
            if how := route.match(category_id, category_name):
                return Routing(
                    route.agency,
                    f"category:{route.category}",
                    f"{where}; category '{route.category}' (matched by {how}) is routed to {route.agency}.",
                )
        return Routing(
            self.triage.agency,
            "triage",
            f"{where}; no category route matches {_describe_category(category_id, category_name)}, "
            f"so it goes to triage at {self.triage.agency}.",
            is_triage=True,
        )

    def _describe_disposition(self, disposition_id: int | None) -> str:
        """Say where the complaint is dispositioned, for a routing reason."""
        if disposition_id is None:
            return "No disposition on the complaint"
        if disposition_id == self.institution.id:
            return f"Dispositioned to the city itself ({self.institution.name}, institution {disposition_id})"
        if outside := self.outside_institution(disposition_id):
            return f"Dispositioned to {outside.name} (institution {disposition_id}), outside the city"
        return f"Dispositioned to institution {disposition_id}, not a known sub-unit of the city"
