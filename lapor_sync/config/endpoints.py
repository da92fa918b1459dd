"""The national platform's paths and list parameters as settings, with the contract's values as defaults.

LAPOR! builds endpoint variants per integrator (``/complaints/complaint-lmw`` beside
``/complaints/complaint``, CONTRACT §7 G7) and its master data pages by ``page_size`` where the
inbox is modelled with ``per_page`` (G8): a deployment states its own in the TOML file's
``[national.endpoints]`` table or in ``LAPOR_SYNC_ENDPOINTS__<NAME>`` variables, and no code changes.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

PLACEHOLDER = "{complaint_id}"
"""The one placeholder a path may hold: the complaint the call is about."""
SINCE_PARAM = "updated_since"
"""The inbox's date parameter (CONTRACT §5): not a setting, so no list parameter may take its name."""
_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]+$")


class NationalEndpoints(BaseModel):
    """Where each call of the national adapter goes, relative to ``api_base_url``, and its list parameters.

    Defaults are CONTRACT §5 (and §7 G8 for master data). A path starts with ``/``, carries no query
    nor fragment, and holds ``{complaint_id}`` exactly when the call is about one complaint.

    Attributes:
        inbox: ``GET``, the complaints dispositioned to the city, paged.
        complaint_detail: ``GET``, one complaint (``{complaint_id}``).
        followups: ``GET``, one complaint's follow-ups, paged (``{complaint_id}``).
        followup_add: ``POST``, a follow-up (the complaint id travels in the form).
        status: ``POST``, a status change (``{complaint_id}``).
        reject: ``POST``, a forward or archive request (``{complaint_id}``).
        institutions: ``GET``, the caller's institution and its sub-units.
        categories: ``GET``, LAPOR's categories.
        masters_institutions: ``GET``, master data: every institution (G8).
        masters_templates: ``GET``, master data: reply templates (G8).
        page_param: the query parameter carrying the page number of every paged list.
        page_size_param: the inbox's page-size query parameter (``per_page`` assumed, ``page_size`` seen, G8).
        masters_page_size_param: the master data's page-size query parameter (``page_size``, G8).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    PER_COMPLAINT: ClassVar[frozenset[str]] = frozenset({"complaint_detail", "followups", "status", "reject"})
    """The calls about one complaint: their paths must hold ``{complaint_id}``; the others must not."""

    inbox: str = "/complaints/inbox"
    complaint_detail: str = "/complaints/{complaint_id}/complaint"
    followups: str = "/complaints/{complaint_id}/followups"
    followup_add: str = "/complaints/followup/add"
    status: str = "/complaints/process/{complaint_id}/status"
    reject: str = "/complaints/process/{complaint_id}/reject"
    institutions: str = "/institutions"
    categories: str = "/categories"
    masters_institutions: str = "/masters/institutions/external"
    masters_templates: str = "/masters/templates"
    page_param: str = "page"
    page_size_param: str = "per_page"
    masters_page_size_param: str = "page_size"

    @field_validator("*")
    @classmethod
    def _path_or_parameter(cls, value: str, info: ValidationInfo) -> str:
        """A ``*_param`` is a query parameter's name, none taking another's; every other field is a path (see the class docstring)."""
        name = str(info.field_name)
        if name.endswith("_param"):
            if not _PARAMETER_NAME.match(value):
                raise ValueError("must be a query parameter name (letters, digits, '_', '-', '.', '[', ']')")
            # One name for two parameters would send one of them only: the page size lost, or the date.
            if value == SINCE_PARAM:
                raise ValueError(f"'{value}' is the inbox's date parameter; give this one a name of its own")
            if name != "page_param" and value == info.data.get("page_param"):
                raise ValueError(
                    f"'{value}' is the page number's parameter (page_param); give the page size a name of its own"
                )
            return value
        if not value.startswith("/"):
            raise ValueError("must be a path starting with '/'")
        if any(mark in value for mark in "?# ") or not value.isprintable():
            raise ValueError("must be a path only: no query, fragment, spaces or control characters")
        rest = value.replace(PLACEHOLDER, "")
        if "{" in rest or "}" in rest:
            unknown = ", ".join(re.findall(r"\{[^{}]*\}", rest)) or "an unmatched '{' or '}'"
            raise ValueError(f"unknown placeholder {unknown}; the only placeholder is {PLACEHOLDER}")
        needed, holds = name in cls.PER_COMPLAINT, rest != value
        if needed and not holds:
            raise ValueError(f"must hold {PLACEHOLDER}: this call is about one complaint")
        if holds and not needed:
            raise ValueError(f"must not hold {PLACEHOLDER}: this call is not about one complaint")
        return value


def complaint_path(template: str, complaint_id: int) -> str:
    """Return ``template`` (a :class:`NationalEndpoints` path) with ``complaint_id`` in its placeholder."""
    return template.replace(PLACEHOLDER, str(complaint_id))
