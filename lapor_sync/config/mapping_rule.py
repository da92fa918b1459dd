"""A category route to add to the mapping file, as TOML text for an admin to confirm and paste (never written here)."""

from __future__ import annotations

import json
import tomllib

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.routing import CategoryRoute, CityMapping


class RuleRefused(LaporSyncError):
    """The proposed route names an agency the mapping lacks, or a category a route already takes."""


def category_route_toml(
    mapping: CityMapping, category_name: str, agency_code: str, *, category_id: int | None = None
) -> str:
    """Return a ``[[category_route]]`` table routing a LAPOR category to an agency.

    The text is checked to load as a route of the mapping file; adding it is the admin's edit,
    followed by ``lapor-sync mapping check`` and, for the cases already in triage, a resync.

    Args:
        mapping: the mapping in force.
        category_name: the LAPOR category's name, as complaints carry it.
        agency_code: an agency of the mapping.
        category_id: the LAPOR category id, to match by id (names can change on LAPOR!).

    Returns:
        The TOML text, ending with a newline.

    Raises:
        RuleRefused: an unknown agency, an empty name, or a category an existing route matches.
    """
    agency = mapping.agency(agency_code)
    if agency is None:
        raise RuleRefused(f"no agency '{agency_code.strip()}' in the mapping file")
    if not category_name.strip():
        raise RuleRefused("name the category")
    for route in mapping.category_routes:
        if route.match(category_id, category_name):
            raise RuleRefused(f"category '{route.category}' is already routed to {route.agency}")
    lines = [
        "[[category_route]]",
        f"category = {json.dumps(category_name.strip(), ensure_ascii=False)}",  # a JSON string is a TOML basic string
        *([f"category_id = {category_id}"] if category_id is not None else []),
        f'agency = "{agency.code}"',
    ]
    text = "\n".join(lines) + "\n"
    CategoryRoute.model_validate(tomllib.loads(text)["category_route"][0])
    return text
