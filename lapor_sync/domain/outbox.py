"""Where an outbox row stands on its way to the national platform.

The values are what the ``outbox.state`` column stores (migration 0001): renaming one is a
migration, not an edit here.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxState(StrEnum):
    """States of an outbox row: ``pending`` → ``sending`` → ``delivered``, or ``dead``, or ``cancelled``.

    ``pending``: waiting for its next attempt (``next_attempt_at``). ``sending``: claimed by one
    pusher for a request in flight; found so after a crash, it is read back before any re-post
    (CONTRACT §6). ``delivered``: LAPOR! has it. ``dead``: a dead letter, refused for good or out
    of attempts, with its reason; an admin may requeue it. ``cancelled``: given up by an admin.
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


WAITING = (OutboxState.PENDING, OutboxState.SENDING)
"""The states of a row not yet delivered nor given up: what the push still owes LAPOR!."""
