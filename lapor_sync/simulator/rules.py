"""The platform's rules as pure functions: content normalisation, status transitions, reporter replies.

Each function cites the CONTRACT section it models; the world applies them to its state.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from lapor_sync.domain.status import NATIONAL_STATUS_NAMES, NationalStatus
from lapor_sync.simulator.texts import reporter_reply
from lapor_sync.simulator.workdays import add_working_days, next_working_day_at

MAX_CONTENT = 10_000
AUTO_CLOSE_WORKING_DAYS = 10
ADMIN_DECISION_TIME = time(10, 0)  # WIB
_TAG_RE = re.compile(r"</?[A-Za-z!][^<>]*>")


class SimulatorError(Exception):
    """A refusal the API reports as an HTTP error (CONTRACT §2: ``{"message", "errors"}``).

    Attributes:
        status: the HTTP status (403, 404, 422, ...).
        message: the ``message`` text; never carries reporter data.
        errors: optional field -> messages.
    """

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def normalise_content(content: str) -> str:
    """Normalise follow-up content as the platform stores it (CONTRACT §4).

    Trims surrounding white space, turns CR LF into LF, strips HTML tags and cuts the
    result at 10,000 characters. Text in square brackets, such as a reference token, survives.
    """
    return _TAG_RE.sub("", content.replace("\r\n", "\n")).strip()[:MAX_CONTENT]


def check_transition(old: int, new: int, *, has_institution_followup: bool) -> None:
    """Allow only the transitions an institution may ask for (CONTRACT §5, ``/process/{id}/status``).

    Terverifikasi -> Dalam Proses always; Dalam Proses -> Selesai once the institution has posted
    a follow-up.

    Raises:
        SimulatorError: 422 with a message naming both statuses, for any other request.
    """
    names = f"{NATIONAL_STATUS_NAMES.get(old, old)} -> {NATIONAL_STATUS_NAMES.get(new, new)}"
    if (old, new) == (NationalStatus.VERIFIED, NationalStatus.IN_PROCESS):
        return
    if (old, new) == (NationalStatus.IN_PROCESS, NationalStatus.COMPLETED):
        if has_institution_followup:
            return
        raise SimulatorError(422, f"Status change {names} needs a follow-up from the institution first.")
    raise SimulatorError(422, f"Status change {names} is not allowed.")


def check_writable(status_code: int) -> None:
    """Refuse writes on Selesai, Diarsipkan and Ditolak complaints (CONTRACT §5: 422)."""
    if status_code in (NationalStatus.COMPLETED, NationalStatus.ARCHIVED, NationalStatus.REJECTED):
        raise SimulatorError(422, f"The complaint is {NATIONAL_STATUS_NAMES[status_code]}; it takes no more writes.")


@dataclass(frozen=True, slots=True)
class PlannedReply:
    """A reporter reply the platform adds by itself: ``delay`` after the follow-up, content, rating."""

    delay: timedelta
    content: str
    rating: int


def plan_reporter_reply(seed: int, complaint_id: int, followup_number: int, rate: float) -> PlannedReply | None:
    """Decide, reproducibly, whether the reporter answers the n-th institution follow-up.

    The decision hashes ``(seed, complaint_id, followup_number)``, so it depends neither on the
    order in which complaints are handled nor on the process; asking twice gives the same answer.
    A reply comes 1-3 days after the follow-up.

    Args:
        seed: the world's seed.
        complaint_id: the complaint followed up.
        followup_number: 1 for the complaint's first institution follow-up, and so on.
        rate: the share of follow-ups that get a reply (0.0-1.0).

    Returns:
        The planned reply, or ``None`` when the reporter stays silent.
    """
    digest = hashlib.blake2b(f"{seed}:{complaint_id}:{followup_number}".encode(), digest_size=8).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    if rng.random() >= rate:
        return None
    content, rating = reporter_reply(rng)
    return PlannedReply(delay=timedelta(seconds=rng.randint(86_400, 3 * 86_400)), content=content, rating=rating)


def auto_close_at(followup_at: datetime) -> datetime:
    """When a follow-up left without a reply closes the complaint: 10 working days later (CONTRACT §3)."""
    return add_working_days(followup_at, AUTO_CLOSE_WORKING_DAYS)


def admin_decision_at(requested_at: datetime) -> datetime:
    """When the platform's admin decides a reject request: the next working day, 10:00 WIB [assumed]."""
    return next_working_day_at(requested_at, ADMIN_DECISION_TIME)


def scrambled(item_id: int) -> int:
    """A sort key that puts follow-ups in a fixed, unsorted order (CONTRACT §5: order not guaranteed)."""
    return (item_id * 2_654_435_761) % 4_294_967_291
