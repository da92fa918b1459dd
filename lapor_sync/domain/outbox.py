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


class AttemptOutcome(StrEnum):
    """What came of one delivery attempt of an outbox row, as the ``outbox_attempt.outcome`` column stores it.

    ``delivered``: LAPOR! has it (posted, or found by read-back). ``failed``: not delivered, tried
    again later. ``ambiguous``: may have reached LAPOR!, read back before the next try (CONTRACT §6).
    ``dead_lettered``: refused for good, or the last attempt allowed failed. ``throttled``: the
    gateway's quota refused the request, nothing applied (CONTRACT §7 G3); the row waits, its
    attempts not counted. ``stopped``: an error that stops the whole run (401/403, CONTRACT §7 G2)
    met this row; it waits, its attempts not counted.
    """

    DELIVERED = "delivered"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    DEAD_LETTERED = "dead_lettered"
    THROTTLED = "throttled"
    STOPPED = "stopped"
