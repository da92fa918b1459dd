"""Who may read a confidential (rahasia) complaint's content in the console: the mapping file's ``[privacy]``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ConsoleRole = Literal["viewer", "operator", "admin"]
"""A console role's name (:class:`lapor_sync.accounts.roles.Role`), spelt here so the domain imports no accounts."""


class PrivacyRules(BaseModel):
    """The city's rules on confidential complaints, read from ``[privacy]`` (optional: the defaults apply).

    Attributes:
        confidential_roles: the console roles that may open the title, content and thread of a
            confidential (rahasia, ``is_secret``) complaint; each role is named, none is implied by
            another. Default: ``admin`` alone (the issue's "default admin"). Every opening is audited.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidential_roles: tuple[ConsoleRole, ...] = ("admin",)

    def may_read_confidential(self, role: str) -> bool:
        """Return whether a console user of ``role`` (``"admin"``, ...) may open confidential content."""
        return role in self.confidential_roles
