"""What each console user may do: three roles, each one allowed everything the one below may."""

from __future__ import annotations

from enum import StrEnum

_RANK = {"viewer": 0, "operator": 1, "admin": 2}


class Role(StrEnum):
    """A console user's role; each role may do everything the roles below it may.

    * ``viewer`` reads: dashboard, runs and events, cases, outbox, set-aside records, mapping, SLA,
      settings (masked).
    * ``operator`` also acts on the sync: resync, retry and cancel outbox rows, re-route a case to
      another agency, add a follow-up, complete, return and forward a complaint.
    * ``admin`` also manages console users and their API tokens and reads the audit log.

    A confidential (*rahasia*, ``is_secret``) complaint's content is shown only to the roles the
    mapping allows; by default that is ``admin`` alone.
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def at_least(self, other: Role) -> bool:
        """Return whether this role may do what ``other`` may (admin > operator > viewer).

        Args:
            other: the least role an action needs.

        Returns:
            True when this role ranks at or above ``other``.
        """
        return _RANK[self.value] >= _RANK[other.value]
